// The Usage page: GET /api/usage drawn as tables. Text only (textContent), never HTML.
import { $, api, el, showError } from "./common.js";

const LIMIT_NAMES = {
  "stack-daily": "Spend limit per day (everyone)",
  "stack-monthly": "Spend limit per 30 days (everyone)",
  "user-daily": "Spend limit per person per day",
};
const DIMENSIONS = [["user", "Per user"], ["model", "Per model"], ["channel", "Per channel"], ["job", "Per scheduled job"]];

export function usd(value) {
  return `$${Number(value).toFixed(value > 0 && value < 0.01 ? 4 : 2)}`;
}

function totalText(tally) {
  return `${usd(tally.cost_usd)} · ${tally.tokens_in} in / ${tally.tokens_out} out tokens · ${tally.calls} calls`;
}

function breakdown(title, dimension, rows) {
  if (rows.length === 0) return null;
  return el("div", { className: "usage-table", dataset: { dimension } },
    el("h3", { textContent: title }),
    el("table", {},
      el("thead", {}, el("tr", {}, ...["", "Spend", "Tokens in", "Tokens out", "Calls"].map((t) => el("th", { textContent: t })))),
      el("tbody", {}, ...rows.map((row) => el("tr", { dataset: { key: row[dimension] } },
        el("td", { textContent: row[dimension] }),
        el("td", { textContent: usd(row.cost_usd) }),
        el("td", { textContent: String(row.tokens_in) }),
        el("td", { textContent: String(row.tokens_out) }),
        el("td", { textContent: String(row.calls) }))))));
}

function period(id, data) {
  $(`${id}-total`).textContent = totalText(data.total);
  $(id).replaceChildren(...DIMENSIONS.map(([dimension, title]) => breakdown(title, dimension, data[`by_${dimension}`])).filter(Boolean));
}

export function render(report) {
  const limits = Object.entries(report.limits_usd).map(([rule, amount]) => el("tr", { dataset: { rule } },
    el("td", { textContent: LIMIT_NAMES[rule] || rule }), el("td", { textContent: usd(amount) })));
  if (limits.length === 0) limits.push(el("tr", {}, el("td", { textContent: "Spend limits" }), el("td", { textContent: "none set" })));
  if (report.container_monthly_usd !== null) {
    limits.push(el("tr", { dataset: { rule: "container" } },
      el("td", { textContent: "Container, estimated per month" }), el("td", { textContent: usd(report.container_monthly_usd) })));
  }
  $("usage-limits").replaceChildren(...limits);
  period("usage-today", report.today);
  period("usage-month", report.month);
  const who = report.scope === "you" ? "your calls" : "everyone's calls";
  const partial = report.complete ? "" : " (the logs were read only in part: older entries are missing)";
  $("usage-status").textContent = report.logs_unavailable
    ? `Model spend is not shown: ${report.logs_unavailable}.`
    : `As of ${new Date(report.as_of).toLocaleString()}, ${who}${partial}.`;
}

async function load() {
  try {
    render(await api("/api/usage"));
  } catch (error) {
    $("usage-status").textContent = error.message;
    showError(error);
  }
}

$("usage-refresh").addEventListener("click", () => { load(); });
load();
