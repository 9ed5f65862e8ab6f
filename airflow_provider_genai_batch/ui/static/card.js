// The dashboard card as an Airflow React plugin without a build step: Airflow's UI imports this module and
// renders globalThis.AirflowPlugin as a component. It returns a plain element (an iframe of card.html) in the
// shape React itself builds, so this file needs no React import. React 19 (Airflow 3.1+ as shipped) marks
// elements "react.transitional.element", React 18 "react.element": the UI's own bundle says which it uses.
const base = new URL(".", import.meta.url).href.replace(/static\/$/, "");

async function elementSymbol() {
  try {
    const script = document.querySelector("script[type=module][src*='/assets/']");
    if (script) {
      const source = await (await fetch(script.src)).text(); // already in the browser's cache
      if (!source.includes("react.transitional.element") && source.includes("react.element")) {
        return Symbol.for("react.element");
      }
    }
  } catch (e) { /* keep React 19's marker */ }
  return Symbol.for("react.transitional.element");
}

const TYPE = await elementSymbol();

globalThis.AirflowPlugin = function GenAIBatchCard() {
  const props = {
    src: base + "card", title: "Gen AI batch jobs, last 24 h",
    style: { border: "0", width: "100%", height: "96px" },
  };
  return { $$typeof: TYPE, type: "iframe", key: null, ref: null, props, _owner: null, _store: {} };
};
