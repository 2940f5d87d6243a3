// Follows a job's logs: polls /jobs/{id}/logs with the API's `resume` cursor, so each
// line is shown once; Pause stops polling; the kind and attempt filters start over.
(function () {
  "use strict";
  const list = document.getElementById("logs");
  if (!list) return;
  const form = document.getElementById("log-controls");
  const pause = document.getElementById("log-pause");
  const state = document.getElementById("log-state");
  const job = list.dataset.job;
  let cursor = null, paused = false, timer = null, generation = 0, done = false;

  function query() {
    const q = new URLSearchParams();
    if (cursor) q.set("cursor", cursor);
    if (list.dataset.index !== undefined) q.set("index", list.dataset.index);
    const kinds = Array.from(form.querySelectorAll("input[name=kind]:checked")).map((x) => x.value);
    const all = form.querySelectorAll("input[name=kind]").length;
    if (kinds.length < all) kinds.forEach((k) => q.append("kind", k));
    const attempt = form.querySelector("input[name=attempt]").value;
    if (attempt !== "") q.set("attempt", attempt);
    return q;
  }

  function show(line) {
    const li = document.createElement("li");
    li.className = "k-" + line.kind;
    li.dataset.kind = line.kind;
    const t = document.createElement("span");
    t.className = "t";
    t.textContent = line.ts.replace("T", " ").replace("Z", "").slice(11, 23) + "  ";
    t.title = line.ts + " · run " + line.run + " · attempt " + line.attempt;
    li.appendChild(t);
    if (line.kind === "log") {
      const lvl = document.createElement("span");
      lvl.className = "lvl lvl-" + (line.level || "");
      lvl.textContent = (line.level || "") + " ";
      li.appendChild(lvl);
    }
    const m = document.createElement("span");
    m.className = "m";
    m.textContent = line.message + (line.exception ? "\n" + line.exception : "");
    li.appendChild(m);
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    list.appendChild(li);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  async function poll() {
    const mine = generation;
    timer = null;
    let again = 1000;
    try {
      const answer = await fetch("/jobs/" + encodeURIComponent(job) + "/logs?" + query(), {
        headers: { accept: "application/json" },
      });
      const page = await answer.json();
      if (mine !== generation) return;
      if (!answer.ok) {
        state.textContent = page.error || "error " + answer.status;
        again = 5000;
      } else {
        page.lines.forEach(show);
        cursor = page.resume;
        done = page.finished && !page.more;
        state.textContent = done ? "job " + page.status + ": all lines shown" : (paused ? "paused" : "following (" + page.status + ")");
        if (page.more) again = 0;
      }
    } catch (e) {
      if (mine !== generation) return;
      state.textContent = "cannot reach the console server";
      again = 5000;
    }
    // Once the job has finished, one more poll a little later takes lines copied late.
    if (!paused && mine === generation && !(done && again > 0 && list.dataset.final === "1")) {
      if (done) list.dataset.final = "1";
      timer = setTimeout(poll, done ? 3000 : again);
    }
  }

  function restart() {
    generation += 1;
    if (timer) clearTimeout(timer);
    cursor = null;
    done = false;
    delete list.dataset.final;
    list.replaceChildren();
    if (!paused) poll();
  }

  pause.addEventListener("click", function () {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (paused) {
      generation += 1;
      if (timer) clearTimeout(timer);
      state.textContent = "paused";
    } else {
      generation += 1;
      poll();  // from the cursor kept: nothing missed while paused
    }
  });
  form.addEventListener("change", restart);
  form.addEventListener("submit", function (e) { e.preventDefault(); restart(); });
  poll();
})();
