// "Send to the local PACS": post with the session's CSRF token in X-CSRF-Token, then follow
// the job (GET /api/jobs/{id}) until it ends, saying where it stands.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const STATES = { pending: "en attente", running: "envoi en cours", done: "envoyé", failed: "échec" };

async function follow(jobUrl, output) {
  for (;;) {
    const answer = await fetch(jobUrl, { headers: { Accept: "application/json" } });
    const job = await answer.json();
    if (!answer.ok) { output.textContent = job.detail || job.title || "Échec"; return; }
    output.textContent = `${STATES[job.state] ?? job.state} : ${job.done}/${job.total} images` +
      (job.failed ? `, ${job.failed} refusées` : "") + (job.error ? ` (${job.error})` : "");
    if (job.state === "done" || job.state === "failed") return;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

for (const form of document.querySelectorAll("form[data-job-form]")) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const output = form.querySelector(".job-status");
    const button = form.querySelector("button");
    button.disabled = true;
    output.textContent = "Envoi demandé…";
    try {
      const answer = await fetch(form.action, {
        method: "POST", headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
      });
      const body = await answer.json();
      if (!answer.ok) { output.textContent = body.detail || body.title || "Échec"; return; }
      await follow(body.href, output);
    } catch (error) {
      output.textContent = `Échec : ${error}`;
    } finally {
      button.disabled = false;
    }
  });
}
