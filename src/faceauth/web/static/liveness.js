/* faceauth liveness challenge: prompts, a progress indicator, frames streamed in chunks.
 *
 * The widget is a <section data-camera data-liveness> (see _camera.html) with data-endpoint (the page
 * endpoint that enrolls or verifies), data-mode ("enroll" or "verify") and data-success-url. On Start:
 *   1. POST /api/v1/liveness/challenges {purpose}: the server picks the moves, the light schedule, a
 *      nonce and a deadline (asking again while one is open gives the same one back; once frames
 *      were sent to it, asking again spends it as a failed attempt and draws a new one);
 *   2. the light step (when the challenge has one): a full-screen overlay shows each step's colour.
 *      The colour is tied to frame indices, not the clock: before frame 0 is grabbed the overlay
 *      shows step 0's colour, and right after frame i is grabbed it shows the colour of the step frame
 *      i+1 belongs to; the server knows only the order of the frames it receives. The colour under
 *      which each frame was grabbed is kept in data-light-log (comma-separated, for tests);
 *   3. frames are grabbed every frame_interval_ms and posted in chunks to
 *      /api/v1/liveness/challenges/{id}/frames; each answer is the server's own reading
 *      (moves_done, complete, failure), which drives the prompts and the progress bar;
 *   4. once the server says complete, POST {"challenge_id"} to data-endpoint, which judges the whole
 *      stream again, matches the face and answers {ok, message, redirect} like the plain capture.
 * Nothing this script computes is trusted by the server. The session cookie travels by itself; the
 * X-CSRF-Token header comes from <meta name="csrf-token">. Shared parts: webcam.js.
 */
"use strict";

(function () {
  const { sleep, postJson, WebcamWidget, onReady } = window.faceauthWebcam;

  function detailText(data, fallback) {
    if (typeof data.message === "string") return data.message;
    if (typeof data.step === "string" && typeof data.detail === "string") {
      // a failed liveness check: name the step that failed, in the server's words
      const reason = data.detail.replace(/^liveness check failed: /, "");
      return reason.charAt(0).toUpperCase() + reason.slice(1) + ".";
    }
    if (typeof data.detail === "string") return data.detail.charAt(0).toUpperCase() + data.detail.slice(1) + ".";
    return fallback;
  }

  class LivenessWidget extends WebcamWidget {
    constructor(root) {
      super(root);
      this.prompt = root.querySelector(".challenge-prompt");
      this.steps = root.querySelector(".challenge-steps");
      this.progress = root.querySelector("progress.challenge-progress");
      this.overlay = root.querySelector(".light-overlay");
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

    /* The colour of the light step frame ``index`` belongs to, or null after the light phase. */
    static colourAt(light, index) {
      if (!light) return null;
      let end = 0;
      for (const step of light.steps) {
        end += step.frames;
        if (index < end) return step.colour;
      }
      return null;
    }

    showLight(colour) {
      if (!this.overlay) return;
      if (colour) {
        this.overlay.style.backgroundColor = colour; // CSSOM, allowed by the strict CSP
        this.overlay.hidden = false;
        this.root.dataset.lightColour = colour;
      } else {
        this.overlay.hidden = true;
        delete this.root.dataset.lightColour;
      }
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
      const light = challenge.light || null;
      const lightLog = [];
      this.root.dataset.lightLog = "";
      this.showSteps(challenge.prompts, 0);
      if (light) {
        this.prompt.textContent = "Look at the screen and hold still while the colours change";
        this.setState("challenge", "The screen shows colours first: hold still, then follow the prompts.");
        this.showLight(LivenessWidget.colourAt(light, 0));
        await sleep(challenge.frame_interval_ms); // the screen shows the first colour before frame 0
      } else {
        this.setState("challenge", "Follow the prompt. The server checks each move as you do it.");
      }

      const queue = [];
      let capturing = true;
      let sent = 0;
      let grabbed = 0;
      const capture = (async () => {
        try {
          while (capturing && performance.now() < deadline && sent + queue.length < challenge.max_frames) {
            const colour = LivenessWidget.colourAt(light, grabbed);
            queue.push(this.grabFrame(0.85));
            if (colour) {
              lightLog.push(colour);
              this.root.dataset.lightLog = lightLog.join(",");
            }
            grabbed += 1;
            const next = LivenessWidget.colourAt(light, grabbed);
            if (next !== colour) {
              this.showLight(next);
              if (!next) this.showSteps(challenge.prompts, 0); // the light phase is over: the moves
            }
            await sleep(challenge.frame_interval_ms);
          }
        } finally {
          this.showLight(null);
        }
      })();

      let progress = { moves_done: 0, complete: false, failure: null };
      try {
        while (!progress.complete && !progress.failure && performance.now() < deadline) {
          // Batches of 4 frames or more (half a second) while the camera runs: fewer posts per user
          // (the server limits chunks a minute), the same frames.
          if (queue.length === 0 || (queue.length < 4 && capturing && performance.now() < deadline)) {
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
          if (!light || grabbed >= light.frames) this.showSteps(challenge.prompts, progress.moves_done);
          if (progress.failure) this.root.dataset.failedStep = progress.step || "";
        }
      } finally {
        capturing = false;
        await capture;
      }
      this.setState("sending", this.mode === "verify" ? "Checking your face…" : "Enrolling your face…");
      // The server decides, whatever the progress said: send the challenge in any case.
      const final = await postJson(this.endpoint, { challenge_id: challenge.challenge_id });
      const body = final.data;
      if (typeof body.step === "string") this.root.dataset.failedStep = body.step;
      if (typeof body.ok !== "boolean") {
        return { ok: false, message: detailText(body, "The server could not answer (" + final.status + "). Please try again.") };
      }
      return body;
    }
  }

  onReady("[data-camera][data-liveness]", (root) => new LivenessWidget(root));
})();
