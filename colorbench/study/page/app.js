// The participant's page: no build step, no library, nothing from another origin.
// Text from the server is only ever set with textContent, never parsed as HTML.
"use strict";
(() => {
  const TOKEN_KEY = "colorbench-study-token";
  const FEEDBACK_MS = 900;
  const $ = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const painted = () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  let study = null;
  let trial = null;
  let accepting = false;
  let askedAt = 0;

  class Refused extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  function setState(state) { document.body.dataset.state = state; }
  function showError(message) { $("error").textContent = message; }

  // A request, retried while the server cannot be reached (restarting): a repeated vote counts once.
  async function api(path, body) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers["Authorization"] = "Bearer " + token;
    const options = { headers, cache: "no-store" };
    if (body !== undefined) {
      options.method = "POST";
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    for (let attempt = 1; ; attempt++) {
      let response;
      try {
        response = await fetch(path, options);
      } catch (e) {
        if (attempt >= 20) throw new Error("the study's server cannot be reached; your answers so far are saved");
        showError("Reconnecting to the study's server…");
        await sleep(Math.min(500 * attempt, 3000));
        continue;
      }
      showError("");
      const data = await response.json().catch(() => ({}));
      if (!response.ok) throw new Refused(response.status, data.error || "the server refused (" + response.status + ")");
      return data;
    }
  }

  function words() {
    return study.presentation === "side_by_side" ? ["left", "right"] : ["first", "second"];
  }

  function describe() {
    $("title").textContent = study.title || "Real or fake colours?";
    document.title = $("title").textContent;
    $("question").textContent = study.question;
    $("practice-count").textContent = String(study.practice);
    const [first, second] = words();
    document.querySelectorAll(".first-word").forEach((el) => { el.textContent = first; });
    document.querySelectorAll(".second-word").forEach((el) => { el.textContent = second; });
    const seconds = (study.display_ms / 1000).toLocaleString();
    $("how").textContent = study.presentation === "side_by_side"
      ? "The two are shown side by side for " + seconds + " s."
      : "The two are shown one after the other, " + seconds + " s each.";
    document.body.classList.toggle("side-by-side", study.presentation === "side_by_side");
  }

  function progress() {
    const total = study.practice + study.trials;
    if (!trial) {
      $("fill").style.width = "100%";
      $("count").textContent = "Done";
      return;
    }
    const before = trial.phase === "practice" ? trial.index - 1 : study.practice + trial.index - 1;
    $("fill").style.width = (100 * before / Math.max(total, 1)).toFixed(1) + "%";
    $("count").textContent = (trial.phase === "practice" ? "Practice " : "Pair ") + trial.index + " of " + trial.of;
  }

  function loaded(src) {
    const img = new Image();
    img.alt = "";
    img.src = src;
    return img.decode().then(() => img); // decoded before it is timed
  }

  async function present(first, second) {
    const [a, b] = [$("frame-first"), $("frame-second")];
    setState("showing");
    if (study.presentation === "side_by_side") {
      a.replaceChildren(first);
      b.replaceChildren(second);
      await painted();
      await sleep(study.display_ms);
      a.replaceChildren();
      b.replaceChildren();
      return;
    }
    a.replaceChildren(first);
    await painted();
    await sleep(study.display_ms);
    a.replaceChildren();
    await sleep(study.gap_ms);
    a.replaceChildren(second);
    await painted();
    await sleep(study.display_ms);
    a.replaceChildren();
  }

  async function run(next) {
    trial = next;
    progress();
    if (!trial) {
      sessionStorage.removeItem(TOKEN_KEY);
      setState("done");
      return;
    }
    const [first, second] = await Promise.all([loaded(trial.first), loaded(trial.second)]);
    await present(first, second);
    setState("ask");
    $("feedback").textContent = "";
    $("feedback").className = "";
    $("choose-first").disabled = $("choose-second").disabled = false;
    accepting = true;
    askedAt = performance.now();
  }

  async function answer(which) {
    if (!accepting) return;
    accepting = false;
    setState("saving");
    $("choose-first").disabled = $("choose-second").disabled = true;
    const shown = trial;
    let reply;
    try {
      reply = await api("api/vote", { n: shown.n, answer: which, response_ms: Math.round(performance.now() - askedAt) });
    } catch (e) {
      if (!(e instanceof Refused) || e.status !== 409) throw e;
      reply = await api("api/next"); // answered already (another tab): go on from where the server is
    }
    if (reply.feedback) {
      const [first, second] = words();
      const fake = reply.feedback.fake === "first" ? first : second;
      $("feedback").textContent = (reply.feedback.correct ? "Correct: " : "Wrong: ") + "the " + fake + " one had fake colours.";
      $("feedback").className = reply.feedback.correct ? "right" : "wrong";
      setState("feedback");
      await sleep(FEEDBACK_MS);
    }
    if (shown.phase === "practice" && reply.trial && reply.trial.phase !== "practice") {
      $("feedback").className = "";
      $("feedback").textContent = "Practice over. From now on there is no feedback.";
      await sleep(2 * FEEDBACK_MS);
    }
    await run(reply.trial);
  }

  async function start() {
    if ($("start").disabled) return;
    $("start").disabled = true;
    const session = await api("api/session", {});
    sessionStorage.setItem(TOKEN_KEY, session.token);
    await run(session.trial);
  }

  function failing(work) {
    return (...args) => work(...args).catch((e) => { showError("Error: " + e.message); });
  }
  const onStart = failing(start);
  const onAnswer = failing(answer);

  document.addEventListener("keydown", (event) => {
    if (event.repeat || event.altKey || event.ctrlKey || event.metaKey) return;
    const state = document.body.dataset.state;
    if (state === "intro" && (event.key === " " || event.key === "Enter")) {
      event.preventDefault();
      onStart();
    } else if (state === "ask" && (event.key === "ArrowLeft" || event.key === "ArrowRight")) {
      event.preventDefault();
      onAnswer(event.key === "ArrowLeft" ? "first" : "second");
    }
  });
  $("start").addEventListener("click", onStart);
  $("choose-first").addEventListener("click", () => onAnswer("first"));
  $("choose-second").addEventListener("click", () => onAnswer("second"));

  failing(async () => {
    study = (await api("api/study")).study;
    describe();
    if (sessionStorage.getItem(TOKEN_KEY)) { // a reload: go on where this participant was
      try {
        const resumed = await api("api/next");
        study = resumed.study;
        await run(resumed.trial);
        return;
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        sessionStorage.removeItem(TOKEN_KEY); // another study's token
      }
    }
    setState("intro");
    $("start").disabled = false;
  })();
})();
