/**
 * The explorer's page: controls (model, dataset, reporter, transfer, label column, layer) and five panels — the
 * layerwise AUROC with the random-direction band and the LM's output, the probe's outputs at the chosen layer by
 * character × agreement, the anomaly scores of AH vs BH beside the no-quirk control, PGR and EIL with the paper's
 * numbers, and the run's provenance. Charts are Vega-Lite (the vega runtime is served from /vendor/). Every
 * selection fetches only its own data from the explorer's API (src/report/explore.ts).
 *
 * The page marks its state for scripts and tests: <html data-state="loading|ready|error" data-selection="…">.
 */
import { escapeHtml } from "./escape.ts";
import { RUNTIME } from "./html.ts";

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1d1d1f; margin: 0; background: #fafafa; }
header { padding: 10px 20px; background: #fff; border-bottom: 1px solid #ddd; position: sticky; top: 0; z-index: 5; }
h1 { font-size: 18px; margin: 0 0 6px; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 18px; align-items: end; }
.controls label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
.controls select { font-size: 14px; padding: 2px 4px; min-width: 120px; }
.controls input[type=range] { width: 220px; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 600px), 1fr)); gap: 16px; padding: 16px 20px 40px; }
section.panel { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 0; overflow-x: auto; }
section.panel h2 { font-size: 15px; margin: 0 0 6px; }
section.panel.wide { grid-column: 1 / -1; }
p.hint { color: #555; font-size: 12px; margin: 4px 0; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { border: 1px solid #ddd; padding: 3px 7px; }
thead th { background: #f5f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.paper, th.paper { background: #f3f7fc; }
td.missing { color: #999; }
#error { color: #a33; font-weight: 600; }
table.provenance td { vertical-align: top; font-size: 12px; }
.missing { color: #999; }
`;

const SCRIPT = String.raw`
(function () {
  var root = document.documentElement;
  var $ = function (id) { return document.getElementById(id); };
  var views = {};
  var state = { index: null, run: null };
  var seq = 0;
  var f3 = function (x) { return typeof x === "number" && isFinite(x) ? x.toFixed(3) : "—"; };
  var f2 = function (x) { return typeof x === "number" && isFinite(x) ? x.toFixed(2).replace(/^-/, "−") : "—"; };
  var esc = function (s) { return String(s).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; }); };
  var get = function (path, params) {
    var q = new URLSearchParams(params || {}).toString();
    return fetch(path + (q ? "?" + q : "")).then(function (r) {
      if (!r.ok) return r.text().then(function (t) { throw new Error(path + ": " + r.status + " " + t); });
      return r.json();
    });
  };
  var fill = function (sel, items, keep) {
    var old = keep ? sel.value : null;
    sel.innerHTML = items.map(function (it) { return '<option value="' + esc(it.value) + '">' + esc(it.label) + "</option>"; }).join("");
    if (old !== null && items.some(function (it) { return it.value === old; })) sel.value = old;
  };
  var show = function (id, spec) {
    if (views[id]) { views[id].finalize(); delete views[id]; }
    return vegaEmbed($(id), spec, { actions: false, renderer: "svg" }).then(function (r) { views[id] = r.view; });
  };
  var base = function (spec, title) {
    spec.$schema = "https://vega.github.io/schema/vega-lite/v6.json";
    spec.title = { text: title, anchor: "start", fontSize: 13 };
    spec.config = { font: "sans-serif", axis: { grid: true, gridColor: "#eee" }, legend: { labelLimit: 300 } };
    return spec;
  };
  var sel = function () {
    return { model: $("model").value, dataset: $("dataset").value, reporter: $("reporter").value, transfer: $("transfer").value, col: $("col").value, layer: Number($("layer").value) };
  };
  var label = function () { return $("reporter").selectedOptions[0] ? $("reporter").selectedOptions[0].textContent : ""; };
  var key = function (s) { return [s.model, s.dataset, s.reporter, s.transfer, s.col, s.layer].join("|"); };
  var setState = function (st, s) { root.setAttribute("data-state", st); if (s) root.setAttribute("data-selection", key(s)); };

  function modelsAndDatasets(keepDataset) {
    var runs = state.index.runs;
    var model = $("model").value;
    var ds = runs.filter(function (r) { return r.model === model; }).map(function (r) { return { value: r.dataset, label: r.dataset }; });
    fill($("dataset"), ds, keepDataset);
  }

  function transferOf(run, s) {
    var tr = s.transfer.split("→");
    return run.transfers.find(function (t) { return t.reporter === s.reporter && t.train === tr[0] && t.test === tr[1]; });
  }

  function fillRunControls() {
    var run = state.run;
    fill($("reporter"), run.reporters.map(function (r) { return { value: r.id, label: r.label }; }), true);
    fillTransfers();
  }
  function fillTransfers() {
    var run = state.run;
    var rep = $("reporter").value;
    var had = $("transfer").value;
    var ts = run.transfers.filter(function (t) { return t.reporter === rep; }).map(function (t) { return { value: t.train + "→" + t.test, label: t.train + "→" + t.test }; });
    fill($("transfer"), ts, true);
    if (!had || !ts.some(function (t) { return t.value === had; })) {
      if (ts.some(function (t) { return t.value === "AE→BH"; })) $("transfer").value = "AE→BH";
    }
    fillLayers(true);
  }
  function fillLayers(resetToEil) {
    var t = transferOf(state.run, sel());
    var L = t ? t.curves.alice.all.length : 1;
    var slider = $("layer");
    slider.max = String(L - 1);
    if (resetToEil || Number(slider.value) > L - 1) slider.value = String(t && t.eil !== null ? t.eil : Math.floor((L - 1) / 2));
    $("layer-value").textContent = slider.value + " of " + (L - 1);
  }

  function drawCurves(s, t) {
    var values = [];
    ["all", "agree", "disagree"].forEach(function (sub) {
      t.curves[s.col][sub].forEach(function (a, layer) { if (a !== null) values.push({ layer: layer, auroc: a, subset: sub }); });
    });
    var tr = s.transfer.split("→");
    var rnd = state.run.random.find(function (r) { return r.train === tr[0] && r.test === tr[1] && r.labelCol === s.col; });
    var band = rnd ? rnd.layers.map(function (l, layer) { return { layer: layer, lo: l.all.lo, hi: l.all.hi, median: l.all.median }; }) : [];
    var lm = ["all", "agree", "disagree"].map(function (sub) { return { subset: sub, auroc: t.lm[s.col][sub] }; }).filter(function (d) { return d.auroc !== null; });
    var layer = [];
    if (band.length) layer.push({ data: { values: band }, mark: { type: "area", color: "#bbb", opacity: 0.45 }, encoding: { x: { field: "layer", type: "quantitative" }, y: { field: "lo", type: "quantitative" }, y2: { field: "hi" }, tooltip: [{ field: "lo", format: ".3f", title: "random 2.5%" }, { field: "hi", format: ".3f", title: "random 97.5%" }] } });
    layer.push({ data: { values: lm }, mark: { type: "rule", strokeDash: [2, 2], strokeWidth: 1.5 }, encoding: { y: { field: "auroc", type: "quantitative" }, color: { field: "subset", type: "nominal", scale: { domain: ["all", "agree", "disagree"] } } } });
    layer.push({ data: { values: values }, mark: { type: "line", point: true }, encoding: {
      x: { field: "layer", type: "quantitative", title: "layer", axis: { tickMinStep: 1 } },
      y: { field: "auroc", type: "quantitative", title: "AUROC against " + $("col").selectedOptions[0].textContent, scale: { domain: [0, 1] } },
      color: { field: "subset", type: "nominal", title: "examples", scale: { domain: ["all", "agree", "disagree"] } },
      tooltip: [{ field: "subset" }, { field: "layer" }, { field: "auroc", format: ".3f" }] } });
    layer.push({ data: { values: [{ layer: s.layer }] }, mark: { type: "rule", color: "#000", strokeWidth: 1 }, encoding: { x: { field: "layer", type: "quantitative" } } });
    layer.push({ data: { values: [{}] }, mark: { type: "rule", color: "#555", strokeDash: [6, 4] }, encoding: { y: { datum: 0.5 } } });
    var title = label() + " " + s.transfer + ": AUROC by layer";
    var cells = ["all", "agree", "disagree"].map(function (sub) { return '<td class="num" data-k="auroc-' + sub + '">' + f3(t.curves[s.col][sub][s.layer]) + "</td>"; }).join("");
    var lmCells = ["all", "agree", "disagree"].map(function (sub) { return '<td class="num" data-k="lm-' + sub + '">' + f3(t.lm[s.col][sub]) + "</td>"; }).join("");
    var b = band[s.layer];
    $("at-layer").innerHTML = "<table><thead><tr><th></th><th>all</th><th>agree</th><th>disagree</th></tr></thead><tbody>" +
      '<tr><th scope="row">probe at layer ' + s.layer + "</th>" + cells + "</tr>" +
      '<tr><th scope="row">LM output</th>' + lmCells + "</tr>" +
      '<tr><th scope="row">random 2.5–97.5%</th><td class="num" data-k="random-band" colspan="3">' + (b ? f3(b.lo) + " – " + f3(b.hi) : "no random baseline for this transfer and label column") + "</td></tr>" +
      '<tr><th scope="row">EIL</th><td class="num" data-k="eil" colspan="3">' + (t.eil === null ? "—" : t.eil) + "</td></tr></tbody></table>";
    return show("curves", base({ width: 520, height: 260, layer: layer }, title));
  }

  var GROUPS = ["Alice, true", "Alice, false", "Bob agrees", "Bob disagrees"];
  var GROUP_COLORS = ["#1f77b4", "#9ecae1", "#2ca02c", "#d62728"];
  function drawOutputs(s, out) {
    var by = {};
    out.rows.forEach(function (r) { (by[r.group] = by[r.group] || []).push(r.score); });
    $("groups").innerHTML = "<table><thead><tr><th>group</th><th>n</th><th>mean log-odds</th></tr></thead><tbody>" + GROUPS.map(function (g) {
      var xs = by[g] || [];
      var m = xs.length ? xs.reduce(function (a, b) { return a + b; }, 0) / xs.length : NaN;
      return '<tr data-group="' + esc(g) + '"><th scope="row">' + esc(g) + '</th><td class="num" data-k="n">' + xs.length + '</td><td class="num" data-k="mean">' + f3(m) + "</td></tr>";
    }).join("") + "</tbody></table>";
    var spec = base({ width: 520, height: 220, data: { values: out.rows }, mark: { type: "bar", opacity: 0.75 }, encoding: {
      x: { field: "score", type: "quantitative", bin: { maxbins: 40 }, title: "probe log-odds at layer " + s.layer },
      y: { aggregate: "count", type: "quantitative", title: "examples", stack: null },
      color: { field: "group", type: "nominal", title: "group", scale: { domain: GROUPS, range: GROUP_COLORS } },
      tooltip: [{ field: "group" }, { aggregate: "count", title: "examples" }] } }, label() + " " + s.transfer + ": outputs on " + s.transfer.split("→")[1] + " test examples at layer " + s.layer);
    return show("outputs", spec);
  }

  function drawAnomaly(s, an) {
    var entry = state.run.anomaly.find(function (a) { return a.reporter === s.reporter; });
    if (!entry) {
      $("anomaly-table").innerHTML = '<p class="hint" data-k="anomaly-none">No anomaly results for ' + esc(label()) + " in this run.</p>";
      if (views.anomaly) { views.anomaly.finalize(); delete views.anomaly; }
      $("anomaly").innerHTML = "";
      return Promise.resolve();
    }
    var rows = entry.results.map(function (r) {
      var c = entry.control && entry.control.find(function (x) { return x.detector === r.detector; });
      return '<tr data-detector="' + esc(r.detector) + '"><th scope="row">' + esc(r.detector) + '</th><td class="num" data-k="auroc">' + f3(r.auroc) + '</td><td class="num">[' + f3(r.lo) + ", " + f3(r.hi) + ']</td><td class="num" data-k="control">' + (c ? f3(c.auroc) : "—") + "</td></tr>";
    }).join("");
    var paper = entry.paper ? '<td class="num paper" data-k="paper">' + esc(entry.paper.text) + "</td>" : '<td class="num paper missing" data-k="paper" title="' + esc(entry.paperWhy) + '">—</td>';
    $("anomaly-table").innerHTML = "<table><thead><tr><th>detector</th><th>AUROC (BH vs AH)</th><th>95% interval</th><th>no-quirk control</th></tr></thead><tbody>" + rows + "</tbody></table>" +
      '<table><tbody><tr><th scope="row">paper, Mahalanobis on this probe and dataset</th>' + paper + "</tr>" +
      '<tr><th scope="row">these scores\' AUROC (model / control)</th><td class="num" data-k="recomputed">' + f3(an.model.auroc) + " / " + (an.control ? f3(an.control.auroc) : "—") + "</td></tr></tbody></table>" +
      (entry.paperWhy ? '<p class="hint">paper: — because ' + esc(entry.paperWhy) + "</p>" : "");
    var values = an.model.rows.map(function (r) { return { score: Math.log10(r.score + 1e-6), set: r.set, model: "quirky model" }; });
    if (an.control) an.control.rows.forEach(function (r) { values.push({ score: Math.log10(r.score + 1e-6), set: r.set, model: "no-quirk control" }); });
    var spec = base({ data: { values: values }, facet: { row: { field: "model", type: "nominal", title: null, sort: ["quirky model", "no-quirk control"] } }, spec: { width: 520, height: 120,
      mark: { type: "bar", opacity: 0.7 }, encoding: {
        x: { field: "score", type: "quantitative", bin: { maxbins: 40 }, title: "log10 Mahalanobis distance of the per-layer outputs (fit on AE)" },
        y: { aggregate: "count", type: "quantitative", title: "examples", stack: null },
        color: { field: "set", type: "nominal", title: "test set", scale: { domain: ["AH (normal)", "BH (anomalous)"], range: ["#1f77b4", "#d62728"] } } } } },
      label() + ": anomaly scores, Alice's hard (normal) vs Bob's hard (anomalous)");
    return show("anomaly", spec);
  }

  function drawTables(s) {
    var run = state.run;
    var pgr = run.pgr.map(function (r) {
      var p = r.paper ? '<td class="num paper" data-k="paper" title="figures.ipynb cell ' + r.paper.cell + '">' + f2(r.paper.value) + "</td>" : '<td class="num paper missing" data-k="paper" title="' + esc(r.paperWhy) + '">—</td>';
      return '<tr data-reporter="' + esc(r.reporter) + '" data-transfer="' + esc(r.transfer) + '"><th scope="row">' + esc(r.method) + "</th><td>" + esc(r.transfer) + '</td><td class="num" data-k="pgr">' + f2(r.pgr) + "</td>" + p + '<td class="num">' + f3(r.auroc) + '</td><td class="num">' + f3(r.floor) + '</td><td class="num">' + f3(r.ceiling) + "</td></tr>";
    }).join("");
    var pf = function (tr, k) { var v = run.paperFloors[tr][k]; return v ? v.text : "—"; };
    $("pgr").innerHTML = run.pgr.length
      ? "<table><thead><tr><th>method</th><th>transfer</th><th>PGR</th><th class=\"paper\">paper (this dataset)</th><th>AUROC at EIL</th><th>floor</th><th>ceiling</th></tr></thead><tbody>" + pgr + "</tbody></table>" +
        '<p class="hint">Paper floor / ceiling on ' + esc(run.dataset) + ": AE→BH " + pf("AE→BH", "floor") + " / " + pf("AE→BH", "ceiling") + ", A→B " + pf("A→B", "floor") + " / " + pf("A→B", "ceiling") + ". " + esc(run.paperSource) + ".</p>"
      : '<p class="hint">No pgr.json in this results folder.</p>';
    var eil = run.transfers.filter(function (x) { return x.reporter === s.reporter; }).map(function (x) {
      return '<tr data-transfer="' + esc(x.train + "→" + x.test) + '"><th scope="row">' + esc(x.train + "→" + x.test) + '</th><td class="num" data-k="eil">' + (x.eil === null ? "—" : x.eil) + '</td><td class="num" data-k="at-eil">' + (x.atEil ? f3(x.atEil[s.col].all) : "—") + "</td></tr>";
    }).join("");
    $("eil").innerHTML = "<table><thead><tr><th>" + esc(label()) + " transfer</th><th>EIL</th><th>AUROC at EIL (all, against " + esc(s.col) + ")</th></tr></thead><tbody>" + eil + "</tbody></table>";
  }

  function render() {
    var s = sel();
    var my = ++seq;
    setState("loading", s);
    $("layer-value").textContent = s.layer + " of " + $("layer").max;
    var t = transferOf(state.run, s);
    if (!t) { $("error").textContent = state.run.transfers.length ? "no such transfer" : "this run has no summary.json: no transfers to show"; setState("error", s); return; }
    var tr = s.transfer.split("→");
    var jobs = [
      drawCurves(s, t),
      get("/api/outputs", { model: s.model, dataset: s.dataset, reporter: s.reporter, train: tr[0], test: tr[1], layer: s.layer }).then(function (out) { if (my === seq) return drawOutputs(s, out); }),
    ];
    var hasAnomaly = state.run.anomaly.some(function (a) { return a.reporter === s.reporter; });
    jobs.push(hasAnomaly ? get("/api/anomaly", { model: s.model, dataset: s.dataset, reporter: s.reporter }).then(function (an) { if (my === seq) return drawAnomaly(s, an); }) : drawAnomaly(s, null));
    drawTables(s);
    Promise.all(jobs).then(function () {
      if (my !== seq) return;
      $("error").textContent = "";
      setState("ready", s);
    }).catch(function (err) {
      if (my !== seq) return;
      $("error").textContent = err.message;
      console.error(err);
      setState("error", s);
    });
  }

  function loadRun() {
    var s = sel();
    setState("loading", s);
    return get("/api/run", { model: s.model, dataset: s.dataset }).then(function (run) {
      state.run = run;
      $("provenance").innerHTML = run.provenance + '<p class="hint">Files: <a href="/files/' + encodeURIComponent(run.model) + "/" + encodeURIComponent(run.dataset) + '/summary.json">summary.json</a>' +
        (state.index.pgr ? ' · <a href="/files/pgr.json">pgr.json</a>' : "") + "</p>";
      fillRunControls();
      render();
    });
  }

  $("model").addEventListener("change", function () { modelsAndDatasets(true); loadRun(); });
  $("dataset").addEventListener("change", loadRun);
  $("reporter").addEventListener("change", function () { fillTransfers(); render(); });
  $("transfer").addEventListener("change", function () { fillLayers(true); render(); });
  $("col").addEventListener("change", render);
  $("layer").addEventListener("input", function () { $("layer-value").textContent = $("layer").value + " of " + $("layer").max; });
  $("layer").addEventListener("change", render);

  get("/api/index").then(function (index) {
    state.index = index;
    var models = Array.from(new Set(index.runs.map(function (r) { return r.model; })));
    fill($("model"), models.map(function (m) { return { value: m, label: m }; }));
    $("runs-count").textContent = index.runs.length + " runs (" + models.length + " models)";
    modelsAndDatasets(false);
    return loadRun();
  }).catch(function (err) { $("error").textContent = err.message; console.error(err); setState("error"); });
})();
`;

/** The page (small: the runtime comes from /vendor/, the data from /api/). */
export function explorePageHtml(name: string): string {
  return `<!doctype html>
<html lang="en" data-state="loading">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>quirky explore — ${escapeHtml(name)}</title>
<link rel="icon" href="data:,">
<style>${CSS}</style>
</head>
<body>
<header>
<h1>quirky explore — <code>${escapeHtml(name)}</code> <span class="hint" id="runs-count"></span></h1>
<div class="controls">
<label>model <select id="model"></select></label>
<label>dataset <select id="dataset"></select></label>
<label>reporter <select id="reporter"></select></label>
<label>transfer (train→test) <select id="transfer"></select></label>
<label>AUROC against <select id="col"><option value="alice">Alice's labels (truth)</option><option value="bob">Bob's labels (quirk)</option><option value="label">the prompt's character's labels</option></select></label>
<label>layer <input type="range" id="layer" min="0" max="0" step="1" value="0"> <output id="layer-value"></output></label>
<span id="error" role="alert"></span>
</div>
</header>
<main>
<section class="panel" id="panel-curves"><h2>Layerwise AUROC</h2><p class="hint">Lines: the probe on all examples, agreements and disagreements; dotted: the LM's own output; grey band: random directions (2.5–97.5%); black: the chosen layer; dashed: chance.</p><div id="curves"></div><div id="at-layer"></div></section>
<section class="panel" id="panel-outputs"><h2>Probe outputs at the chosen layer</h2><p class="hint">The probe's log-odds on each test example, split by character and by whether Bob's label agrees with Alice's.</p><div id="outputs"></div><div id="groups"></div></section>
<section class="panel" id="panel-anomaly"><h2>Anomaly detection</h2><p class="hint">Mahalanobis distance of each example's per-layer outputs of the probe fitted on AE (the detector is fitted on AE test outputs), on the quirky model and on its no-quirk control.</p><div id="anomaly"></div><div id="anomaly-table"></div></section>
<section class="panel" id="panel-tables"><h2>PGR and EIL, beside the paper's</h2><div id="pgr"></div><div id="eil"></div></section>
<section class="panel wide" id="panel-provenance"><div id="provenance"></div></section>
</main>
${RUNTIME.map((r) => `<script src="/vendor/${r.pkg}.js"></script>`).join("\n")}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
