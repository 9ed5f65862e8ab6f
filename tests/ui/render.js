// Runs a page of the plugin (its ui.js and its inline script) in Node against API answers given on stdin, with a
// small DOM that keeps text as text (as a browser does with textContent/append) and raw HTML as raw HTML (as a
// browser does with innerHTML), then prints the page's elements as HTML. The tests read that HTML as a browser
// would: an element there is an element the page built.
"use strict";
const fs = require("fs");
const vm = require("vm");

const [page, staticDir] = process.argv.slice(2);
const input = JSON.parse(fs.readFileSync(0, "utf8"));  // {"search": "...", "answers": {"/api/...": body}}
const escape = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

class Node {}
class Text extends Node {
  constructor(text) { super(); this.text = String(text); }
  html() { return escape(this.text); }
}
class Raw extends Node {
  constructor(html) { super(); this.raw = String(html); }
  html() { return this.raw; }
}
class Element extends Node {
  constructor(tag) {
    super(); this.tag = tag; this.attrs = {}; this.children = []; this.listeners = {};
    const classes = new Set();
    this.classList = { toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)), contains: (c) => classes.has(c) };
    this.style = {};
  }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  getAttribute(k) { return this.attrs[k]; }
  addEventListener(k, f) { this.listeners[k] = f; }
  append(...nodes) { for (const n of nodes) this.children.push(n instanceof Node ? n : new Text(n)); }
  replaceChildren(...nodes) { this.children = []; this.append(...nodes); }
  set textContent(v) { this.children = [new Text(v)]; }
  get textContent() { return this.children.map((c) => (c instanceof Element ? c.textContent : c.text || "")).join(""); }
  set innerHTML(v) { this.children = [new Raw(v)]; }
  set className(v) { this.attrs.class = v; }
  set hidden(v) { if (v) this.attrs.hidden = ""; else delete this.attrs.hidden; }
  set disabled(v) { if (v) this.attrs.disabled = ""; else delete this.attrs.disabled; }
  set title(v) { this.attrs.title = String(v); }
  html() {
    const attrs = Object.entries(this.attrs).map(([k, v]) => ` ${k}="${escape(v)}"`).join("");
    return `<${this.tag}${attrs}>${this.children.map((c) => c.html()).join("")}</${this.tag}>`;
  }
}

const source = fs.readFileSync(`${staticDir}/${page}.html`, "utf8");
const byId = {};
for (const [, tag, id] of source.matchAll(/<(\w+)[^>]*\bid="([\w-]+)"/g)) {
  byId[id] = new Element(tag);
  byId[id].value = "";
}
const root = new Element("html");
const document = {
  createElement: (tag) => new Element(tag),
  getElementById: (id) => byId[id],
  documentElement: root,
  querySelector: () => null,
  write: (html) => { byId.__written = new Raw(html); },
};
const answer = (url) => {
  const path = new URL(url, "http://airflow").pathname.replace(/^\/genai-batch/, "");
  const body = input.answers[path];
  return Promise.resolve({ ok: body !== undefined, status: body === undefined ? 404 : 200, statusText: "",
    json: () => Promise.resolve(body === undefined ? {} : body) });
};
const context = {
  document, Node, console, URL, URLSearchParams, Number, Promise, Symbol, JSON, Object, String,
  location: { pathname: `/genai-batch/${page}`, search: input.search || "" },
  fetch: answer, setTimeout: () => 0, clearTimeout: () => {}, setInterval: () => 0,
  MutationObserver: class { observe() { throw new Error("standalone"); } },
  PopStateEvent: class {},
};
context.window = context;
context.window.parent = { document: { documentElement: root }, history: {}, dispatchEvent: () => {} };
vm.createContext(context);
vm.runInContext(fs.readFileSync(`${staticDir}/ui.js`, "utf8"), context);
const inline = [...source.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join("\n");
vm.runInContext(inline, context);
setImmediate(() => setImmediate(() => {
  const out = {};
  for (const [id, node] of Object.entries(byId)) out[id] = node.html();
  process.stdout.write(JSON.stringify(out));
}));
