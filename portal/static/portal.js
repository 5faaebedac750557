// "Send to the local PACS": post with the session's CSRF token in X-CSRF-Token, then follow
// the job (GET /api/jobs/{id}) until it ends, saying where it stands.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function follow(jobUrl, output) {
  for (;;) {
    const answer = await fetch(jobUrl, { headers: { Accept: "application/json" } });
    const job = await answer.json();
    if (!answer.ok) { output.textContent = job.detail || job.title || "Échec"; return; }
    const done = job.sent ?? job.done, total = job.total;
    output.textContent = `${job.status}${total ? ` : ${done ?? 0}/${total} images` : ""}`;
    if (!["pending", "running", "queued"].includes(job.status)) return;
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
      const jobUrl = answer.headers.get("Location") || `/api/jobs/${body.id ?? body.job_id}`;
      await follow(jobUrl, output);
    } catch (error) {
      output.textContent = `Échec : ${error}`;
    } finally {
      button.disabled = false;
    }
  });
}
