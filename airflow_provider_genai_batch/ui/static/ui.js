// Shared helpers for the Gen AI batch pages: theme following Airflow's, JSON fetches, formatting.
"use strict";
const GB = (() => {
  const base = location.pathname.replace(/\/[^/]*$/, "");
  function parentDark() {
    try {
      const root = window.parent.document.documentElement;
      if (root.classList.contains("dark") || root.style.colorScheme === "dark") return true;
      if (root.classList.contains("light") || root.style.colorScheme === "light") return false;
    } catch (e) { /* not embedded in Airflow: follow the system */ }
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function applyTheme() { document.documentElement.classList.toggle("dark", !!parentDark()); }
  applyTheme();
  try {
    new MutationObserver(applyTheme).observe(window.parent.document.documentElement,
      { attributes: true, attributeFilter: ["class", "style"] });
  } catch (e) { /* standalone */ }
  async function api(path, options) {
    const response = await fetch(base + path, Object.assign({ credentials: "same-origin" }, options || {}));
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(response.status + ": " + (body.detail || response.statusText));
    return body;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + (s % 60) + " s";
  }
  function bar(p) {
    const total = p.total || 0;
    const pct = (n) => (total ? (100 * (n || 0)) / total : 0);
    return el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total),
      "aria-valuenow": String((p.succeeded || 0) + (p.failed || 0)) },
      el("div", { class: "ok", style: "width:" + pct(p.succeeded) + "%" }),
      el("div", { class: "bad", style: "width:" + pct(p.failed) + "%" }));
  }
  function counts(p) {
    return (p.succeeded || 0) + " done, " + (p.failed || 0) + " failed / " + (p.total ?? "?") + " requests";
  }
  function results(r) {
    if (!r || r.kind === "none") return "–";
    return r.gcs_output_directory || r.bigquery_table || r.file_name || (r.inline_count + " inline responses");
  }
  // Airflow's iframe sandbox forbids top navigation and popups; same-origin lets the page move Airflow's own
  // router (history API + popstate), so owner links open the task in Airflow itself.
  function navigate(event, href) {
    try {
      window.parent.history.pushState({}, "", href);
      window.parent.dispatchEvent(new PopStateEvent("popstate"));
      event.preventDefault();
    } catch (e) { /* standalone page: let the link work normally */ }
  }
  function state(s) { return el("span", { class: "state " + s, "data-state": s }, s); }
  // Only https links to the consoles the server builds become links (the server checks too): anything else,
  // such as a javascript: URL, is shown as text.
  const CONSOLE = /^https:\/\/(aistudio\.google\.com|console\.cloud\.google\.com)\/[A-Za-z0-9._~%\/?=&:-]*$/;
  function link(url, text) {
    return typeof url === "string" && CONSOLE.test(url)
      ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, text) : text;
  }
  return { api, el, duration, bar, counts, results, state, navigate, link, csrf: "genai-batch-ui" };
})();
