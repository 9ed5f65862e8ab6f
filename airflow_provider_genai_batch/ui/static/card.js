// The dashboard card as an Airflow React plugin without a build step: Airflow's UI imports this module and
// renders globalThis.AirflowPlugin as a component. It returns a plain element (an iframe of card.html) created
// through the element shape React 18/19 accept, so this file needs no React import.
const base = new URL(".", import.meta.url).href.replace(/static\/$/, "");
const TYPE = Symbol.for("react.transitional.element");
const LEGACY = Symbol.for("react.element");
function element(type, props, legacy) {
  return { $$typeof: legacy ? LEGACY : TYPE, type, key: null, ref: null, props, _owner: null, _store: {} };
}
globalThis.AirflowPlugin = function GenAIBatchCard() {
  return element("iframe", {
    src: base + "card", title: "Gen AI batch jobs, last 24 h",
    style: { border: "0", width: "100%", height: "96px", colorScheme: "normal" },
  }, false);
};
