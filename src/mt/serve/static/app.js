// The page at /: translates as you type (debounced), with the server's own API; no outside resources.
"use strict";
(function () {
  const DEBOUNCE_MS = 300;
  const $ = (id) => document.getElementById(id);
  const text = $("text"), source = $("source"), target = $("target"), output = $("translation");
  const time = $("time"), error = $("error"), keyLabel = $("key-label"), apiKey = $("api-key");
  let languages = [], timer = null, sent = 0;

  function option(code, name) {
    const o = document.createElement("option");
    o.value = code;
    o.textContent = name === code ? code : `${name} (${code})`;
    return o;
  }

  function fillTargets() {
    const from = languages.find((l) => l.code === source.value);
    const names = Object.fromEntries(languages.map((l) => [l.code, l.name]));
    const keep = target.value;
    target.replaceChildren(...(from ? from.targets : []).map((c) => option(c, names[c] || c)));
    if ([...target.options].some((o) => o.value === keep)) target.value = keep;
  }

  async function translate() {
    const q = text.value;
    const id = ++sent;
    if (!q.trim()) { output.textContent = ""; time.textContent = ""; error.textContent = ""; return; }
    const started = performance.now();
    try {
      const body = { q, source: source.value, target: target.value, format: "text" };
      if (apiKey.value) body.api_key = apiKey.value;
      const response = await fetch("translate", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      const answer = await response.json();
      if (id !== sent) return; // a newer request is on its way: show only the latest
      const ms = Math.round(performance.now() - started);
      if (!response.ok) { error.textContent = answer.error || `HTTP ${response.status}`; return; }
      output.textContent = answer.translatedText;
      time.textContent = `${ms} ms`;
      error.textContent = "";
    } catch (e) {
      if (id === sent) error.textContent = String(e);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(translate, DEBOUNCE_MS);
  }

  async function start() {
    const [langs, settings] = await Promise.all([
      fetch("languages").then((r) => r.json()),
      fetch("frontend/settings").then((r) => r.json()),
    ]);
    languages = langs.filter((l) => l.targets.length > 0);
    source.replaceChildren(...languages.map((l) => option(l.code, l.name)));
    keyLabel.hidden = !settings.keyRequired;
    if (settings.charLimit) text.maxLength = settings.charLimit;
    fillTargets();
    document.body.dataset.ready = "true";
    if (text.value) schedule();
  }

  text.addEventListener("input", schedule);
  source.addEventListener("change", () => { fillTargets(); schedule(); });
  target.addEventListener("change", schedule);
  apiKey.addEventListener("input", schedule);
  start().catch((e) => { error.textContent = `cannot load the languages: ${e}`; });
})();
