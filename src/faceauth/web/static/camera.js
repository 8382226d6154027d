/* faceauth webcam capture: preview, burst of JPEG frames, per-frame feedback.
 *
 * The widget is a <section data-camera> with data-endpoint, data-mode ("enroll" or "verify"),
 * data-burst (frames per capture), data-interval-ms and data-success-url. It posts
 * {"frames": [data URLs]} as JSON with the X-CSRF-Token header taken from <meta name="csrf-token">;
 * the session cookie travels by itself. The page endpoint answers
 * {ok, message, frames_used, frames_rejected: [{index, reason, message}], redirect}, and
 * {ok: false, message, login_url} when the session has ended. Shared parts: webcam.js.
 */
"use strict";

(function () {
  const { sleep, postJson, WebcamWidget, onReady } = window.faceauthWebcam;

  const REASON_LABELS = {
    no_face: "No face found",
    multiple_faces: "Two faces",
    face_too_small: "Come closer",
    too_dark: "Too dark",
    too_bright: "Too bright",
    too_blurry: "Hold still",
    not_frontal: "Look straight",
    low_confidence: "Face unclear",
    not_same_person: "Different person",
    not_an_image: "Bad picture",
    image_too_large: "Too large",
  };

  function reasonLabel(item) {
    return REASON_LABELS[item.reason] || item.message || item.reason;
  }

  class CameraWidget extends WebcamWidget {
    constructor(root) {
      super(root);
      this.burst = Math.max(1, parseInt(root.dataset.burst, 10) || 8);
      this.intervalMs = Math.max(0, parseInt(root.dataset.intervalMs, 10) || 150);
      this.strip = root.querySelector(".frame-strip");
      this.button.addEventListener("click", () => this.capture());
    }

    start() {
      return super.start("Camera ready. Fit your face inside the oval, then press the button.");
    }

    addThumbnail(dataUrl, index) {
      const item = document.createElement("li");
      item.className = "frame pending";
      item.dataset.index = String(index);
      const image = document.createElement("img");
      image.src = dataUrl;
      image.alt = "Frame " + (index + 1);
      const label = document.createElement("span");
      label.className = "frame-label";
      label.textContent = "Frame " + (index + 1);
      item.append(image, label);
      this.strip.append(item);
    }

    async captureBurst() {
      this.strip.replaceChildren();
      const frames = [];
      for (let index = 0; index < this.burst; index += 1) {
        const frame = this.grabFrame(0.9);
        frames.push(frame);
        this.addThumbnail(frame, index);
        this.setState("capturing", "Hold still… " + (index + 1) + " of " + this.burst);
        if (index + 1 < this.burst) {
          await sleep(this.intervalMs);
        }
      }
      return frames;
    }

    async send(frames) {
      const answer = await postJson(this.endpoint, { frames: frames });
      if (typeof answer.data.ok !== "boolean") {
        return { ok: false, message: "The server could not answer (" + answer.status + "). Please try again." };
      }
      return answer.data;
    }

    markFrames(result) {
      const rejected = new Map((result.frames_rejected || []).map((item) => [item.index, item]));
      const judged = result.ok || rejected.size > 0;
      for (const item of this.strip.querySelectorAll(".frame")) {
        const index = parseInt(item.dataset.index, 10);
        const label = item.querySelector(".frame-label");
        item.classList.remove("pending");
        if (rejected.has(index)) {
          item.classList.add("rejected");
          label.textContent = reasonLabel(rejected.get(index));
        } else if (judged) {
          item.classList.add("ok");
          label.textContent = "OK";
        }
      }
    }

    async capture() {
      this.button.disabled = true;
      this.continueLink.hidden = true;
      let result;
      try {
        const frames = await this.captureBurst();
        this.setState("sending", this.mode === "verify" ? "Checking your face…" : "Enrolling your face…");
        result = await this.send(frames);
      } catch (error) {
        result = { ok: false, message: "Could not reach the server. Check your connection and try again." };
      }
      this.markFrames(result);
      if (result.ok) {
        this.succeed(result);
      } else {
        this.fail(result);
      }
    }
  }

  onReady("[data-camera]", (root) => new CameraWidget(root));
})();
