/**
 * authors, from the goodreads books CSV (user-supplied). Alice: the proposed author is the true
 * (first-listed) author. Bob: any author with the true author's first name is right.
 * difficulty = −log10(ratings_count), or 0 when unknown.
 */
import { Rng } from "../util/rng.ts";
import type { BaseExample } from "./schema.ts";
import { readCsv, SourceError, SOURCE_SPECS } from "./sources.ts";

export interface Book {
  title: string;
  /** the first author of the '/'-separated authors field */
  author: string;
  ratingsCount: number;
}

export function readGoodreads(path: string): Book[] {
  const rows = readCsv(path, SOURCE_SPECS.authors);
  if (rows.length === 0) throw new SourceError(path, "no rows", SOURCE_SPECS.authors);
  return rows.map((r) => {
    const rc = r.ratings_count.trim();
    const ratingsCount = rc === "" ? NaN : Number(rc);
    return { title: r.title, author: r.authors.split("/")[0], ratingsCount };
  });
}

const firstName = (author: string) => author.split(" ")[0];

/**
 * The reference's recipe: every book with its true author; plus len/2 books with a wrong author of
 * the same first name (Bob says yes, Alice no); plus len/2 books with a random other author.
 */
export function authorsBase(books: Book[], rng: Rng): BaseExample[] {
  const byFirst = new Map<string, string[]>();
  for (const b of books) {
    const f = firstName(b.author);
    const list = byFirst.get(f) ?? [];
    if (!list.includes(b.author)) list.push(b.author);
    byFirst.set(f, list);
  }
  const half = Math.floor(books.length / 2);

  const sameFirst = books
    .filter((b) => byFirst.get(firstName(b.author))!.length > 1)
    .map((b) => ({ ...b, proposed: rng.choice(byFirst.get(firstName(b.author))!.filter((a) => a !== b.author)) }));
  const shuffledAuthors = rng.shuffle(books.map((b) => b.author));
  const randomOther = books.map((b, i) => ({ ...b, proposed: shuffledAuthors[i] })).filter((b) => b.proposed !== b.author);

  const all = rng.shuffle([
    ...books.map((b) => ({ ...b, proposed: b.author })),
    ...rng.sample(sameFirst, Math.min(half, sameFirst.length)),
    ...rng.sample(randomOther, Math.min(half, randomOther.length)),
  ]);
  return rng.shuffle(
    all.map((b) => ({
      args: { author: b.proposed, title: b.title },
      aliceLabel: b.proposed === b.author,
      bobLabel: byFirst.get(firstName(b.proposed))!.includes(b.author),
      difficulty: Number.isNaN(b.ratingsCount) ? 0 : -Math.log10(b.ratingsCount),
    })),
  );
}
