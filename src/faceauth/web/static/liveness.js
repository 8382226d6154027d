/* faceauth liveness challenge: prompts, a progress indicator, frames streamed in chunks.
 *
 * The widget is a <section data-camera data-liveness> (see _camera.html) with data-endpoint (the page
 * endpoint that enrolls or verifies), data-mode ("enroll" or "verify") and data-success-url. On Start:
 *   1. POST /api/v1/liveness/challenges {purpose}: the server picks the moves, a nonce and a deadline;
 *   2. frames are grabbed every frame_interval_ms and posted in chunks to
 *      /api/v1/liveness/challenges/{id}/frames; each answer is the server's own reading
 *      (moves_done, complete, failure), which drives the prompts and the progress bar;
 *   3. once the server says complete, POST {"challenge_id"} to data-endpoint, which judges the whole
 *      stream again, matches the face and answers {ok, message, redirect} like the plain capture.
 * Nothing this script computes is trusted by the server. The session cookie travels by itself; the
 * X-CSRF-Token header comes from <meta name="csrf-token">. Shared parts: webcam.js.
 */
"use strict";

(function () {
  const { sleep, postJson, WebcamWidget, onReady } = window.faceauthWebcam;

  function detailText(data, fallback) {
    if (typeof data.message === "string") return data.message;
    if (typeof data.detail === "string") return data.detail.charAt(0).toUpperCase() + data.detail.slice(1) + ".";
    return fallback;
  }

  class LivenessWidget extends WebcamWidget {
    constructor(root) {
      super(root);
      this.prompt = root.querySelector(".challenge-prompt");
      this.steps = root.querySelector(".challenge-steps");
      this.progress = root.querySelector("progress.challenge-progress");
      this.button.addEventListener("click", () => this.run());
    }

    start() {
      return super.start("Camera ready. Fit your face inside the oval, look at the camera, then press Start.");
    }

    showSteps(prompts, done) {
      this.steps.replaceChildren();
      prompts.forEach((text, index) => {
        const item = document.createElement("li");
        item.textContent = text;
        item.className = index < done ? "done" : index === done ? "current" : "todo";
        if (index === done) item.setAttribute("aria-current", "step");
        this.steps.append(item);
      });
      this.prompt.textContent = done < prompts.length ? prompts[done] : "Done: hold still";
      this.root.dataset.movesDone = String(done);
    }

    async run() {
      this.button.disabled = true;
      this.continueLink.hidden = true;
      let result;
      try {
        result = await this.challenge();
      } catch (error) {
        result = { ok: false, message: "Could not reach the server. Check your connection and try again." };
      }
      this.prompt.textContent = "";
      if (result.ok) {
        this.succeed(result);
        return;
      }
      this.fail(result);
    }

    async challenge() {
      const issued = await postJson("/api/v1/liveness/challenges", { purpose: this.mode });
      if (issued.status === 401) {
        return { ok: false, message: "Your session has ended. Log in again.", login_url: "/login" };
      }
      if (issued.status !== 201) {
        return { ok: false, message: detailText(issued.data, "The challenge could not start. Please try again.") };
      }
      const challenge = issued.data;
      const framesUrl = "/api/v1/liveness/challenges/" + encodeURIComponent(challenge.challenge_id) + "/frames";
      // Stop streaming a little before the server's deadline: a chunk arriving after it is refused.
      const deadline = performance.now() + Math.max(1, challenge.expires_in - 1.5) * 1000;
      this.progress.max = challenge.moves.length;
      this.progress.value = 0;
      this.progress.hidden = false;
      this.showSteps(challenge.prompts, 0);
      this.setState("challenge", "Follow the prompt. The server checks each move as you do it.");

      const queue = [];
      let capturing = true;
      let sent = 0;
      const capture = (async () => {
        while (capturing && performance.now() < deadline && sent + queue.length < challenge.max_frames) {
          queue.push(this.grabFrame(0.85));
          await sleep(challenge.frame_interval_ms);
        }
      })();

      let progress = { moves_done: 0, complete: false, failure: null };
      try {
        while (!progress.complete && !progress.failure && performance.now() < deadline) {
          if (queue.length === 0) {
            await sleep(challenge.frame_interval_ms);
            continue;
          }
          const chunk = queue.splice(0, challenge.max_chunk_frames);
          sent += chunk.length;
          const answer = await postJson(framesUrl, { frames: chunk });
          if (answer.status === 410) {
            break; // the time is up: the server judges what it received
          }
          if (answer.status !== 200) {
            return { ok: false, message: detailText(answer.data, "The challenge stopped. Please try again.") };
          }
          progress = answer.data;
          this.progress.value = progress.moves_done;
          this.showSteps(challenge.prompts, progress.moves_done);
        }
      } finally {
        capturing = false;
        await capture;
      }
      this.setState("sending", this.mode === "verify" ? "Checking your face…" : "Enrolling your face…");
      // The server decides, whatever the progress said: send the challenge in any case.
      const final = await postJson(this.endpoint, { challenge_id: challenge.challenge_id });
      const body = final.data;
      if (typeof body.ok !== "boolean") {
        return { ok: false, message: detailText(body, "The server could not answer (" + final.status + "). Please try again.") };
      }
      return body;
    }
  }

  onReady("[data-camera][data-liveness]", (root) => new LivenessWidget(root));
})();
