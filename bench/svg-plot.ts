// Draws the report's plots as plain SVG: horizontal bars grouped per benchmark, Sluice next
// to its baselines, each group on its own scale so the comparison inside a group is readable.

export interface Bar {
  label: string;
  value: number;
  kind: "sluice" | "baseline";
  /** A second, lighter bar under the first (e.g. p99 under p50). */
  secondary?: number;
}

export interface BarGroup {
  title: string;
  bars: Bar[];
}

export interface BarChart {
  title: string;
  /** Shown after each value, e.g. "req/s" or "ms". */
  unit: string;
  groups: BarGroup[];
  /** Legend text of the primary and secondary bars. */
  legend?: { primary: string; secondary?: string };
}

const WIDTH = 960;
const LABEL_W = 330;
const BAR_W = 470;
const ROW_H = 22;
const GROUP_GAP = 14;
const COLOURS = {
  sluice: "#1f6feb",
  sluiceLight: "#9ec5fe",
  baseline: "#6e7781",
  baselineLight: "#c9cfd6",
};

function escape(text: string): string {
  return text.replace(/[<>&"]/g, (c) =>
    c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === "&" ? "&amp;" : "&quot;",
  );
}

/** 12 345 / 1.23 / 0.123: readable at any magnitude. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString("en-US");
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function renderBarChart(chart: BarChart): string {
  const parts: string[] = [];
  let y = 56;
  for (const group of chart.groups) {
    parts.push(`<text x="12" y="${y + 12}" class="group">${escape(group.title)}</text>`);
    y += 20;
    const max = Math.max(...group.bars.map((bar) => Math.max(bar.value, bar.secondary ?? 0)), 1e-9);
    for (const bar of group.bars) {
      const rowH = bar.secondary === undefined ? ROW_H : ROW_H + 10;
      const w = Math.max(1, (bar.value / max) * BAR_W);
      const fill = bar.kind === "sluice" ? COLOURS.sluice : COLOURS.baseline;
      parts.push(
        `<text x="${LABEL_W - 8}" y="${y + 14}" class="label">${escape(bar.label)}</text>`,
      );
      parts.push(
        `<rect x="${LABEL_W}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${fill}"/>`,
      );
      parts.push(
        `<text x="${LABEL_W + w + 6}" y="${y + 14}" class="value">${formatValue(bar.value)} ${escape(chart.unit)}</text>`,
      );
      if (bar.secondary !== undefined) {
        const w2 = Math.max(1, (bar.secondary / max) * BAR_W);
        const light = bar.kind === "sluice" ? COLOURS.sluiceLight : COLOURS.baselineLight;
        parts.push(
          `<rect x="${LABEL_W}" y="${y + 17}" width="${w2.toFixed(1)}" height="8" fill="${light}"/>`,
        );
        parts.push(
          `<text x="${LABEL_W + w2 + 6}" y="${y + 25}" class="small">${formatValue(bar.secondary)} ${escape(chart.unit)}</text>`,
        );
      }
      y += rowH;
    }
    y += GROUP_GAP;
  }
  const legend: string[] = [
    `<rect x="12" y="${y + 4}" width="12" height="12" fill="${COLOURS.sluice}"/>`,
    `<text x="30" y="${y + 14}" class="small">Sluice${chart.legend ? ` (${escape(chart.legend.primary)})` : ""}</text>`,
    `<rect x="230" y="${y + 4}" width="12" height="12" fill="${COLOURS.baseline}"/>`,
    `<text x="248" y="${y + 14}" class="small">baseline${chart.legend ? ` (${escape(chart.legend.primary)})` : ""}</text>`,
  ];
  if (chart.legend?.secondary) {
    legend.push(
      `<rect x="470" y="${y + 6}" width="12" height="8" fill="${COLOURS.sluiceLight}"/>`,
      `<rect x="484" y="${y + 6}" width="12" height="8" fill="${COLOURS.baselineLight}"/>`,
      `<text x="502" y="${y + 14}" class="small">${escape(chart.legend.secondary)}</text>`,
    );
  }
  legend.push(
    `<text x="${WIDTH - 12}" y="${y + 14}" class="small" text-anchor="end">each group on its own scale</text>`,
  );
  const height = y + 30;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif">`,
    "<style>.title{font-size:17px;font-weight:bold}.group{font-size:13px;font-weight:bold;fill:#24292f}" +
      ".label{font-size:12px;text-anchor:end;fill:#24292f}.value{font-size:12px;fill:#24292f}" +
      ".small{font-size:11px;fill:#57606a}</style>",
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="28" class="title">${escape(chart.title)}</text>`,
    ...parts,
    ...legend,
    "</svg>",
    "",
  ].join("\n");
}
