/* faceauth webcam capture: preview, burst of JPEG frames, per-frame feedback.
 *
 * The widget is a <section data-camera> with data-endpoint, data-mode ("enroll" or "verify"),
 * data-burst (frames per capture), data-interval-ms and data-success-url. It posts
 * {"frames": [data URLs]} as JSON with the X-CSRF-Token header taken from <meta name="csrf-token">;
 * the session cookie travels by itself. The page endpoint answers
 * {ok, message, frames_used, frames_rejected: [{index, reason, message}], redirect}, and
 * {ok: false, message, login_url} when the session has ended.
 */
"use strict";

(function () {
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

  const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function reasonLabel(item) {
    return REASON_LABELS[item.reason] || item.message || item.reason;
  }

  class CameraWidget {
    constructor(root) {
      this.root = root;
      this.endpoint = root.dataset.endpoint;
      this.mode = root.dataset.mode;
      this.burst = Math.max(1, parseInt(root.dataset.burst, 10) || 8);
      this.intervalMs = Math.max(0, parseInt(root.dataset.intervalMs, 10) || 150);
      this.successUrl = root.dataset.successUrl;
      this.video = root.querySelector("video.preview");
      this.canvas = root.querySelector("canvas.grab");
      this.status = root.querySelector(".camera-status");
      this.strip = root.querySelector(".frame-strip");
      this.button = root.querySelector("button.capture");
      this.continueLink = root.querySelector("a.continue");
      this.button.addEventListener("click", () => this.capture());
    }

    setState(state, message) {
      this.root.dataset.state = state;
      this.status.textContent = message;
    }

    async start() {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        this.setState("failure", "This browser cannot use a camera here. Try a recent browser over HTTPS.");
        return;
      }
      try {
        const stream = await navigator.mediaDevices.getUserMedia({
          video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" },
          audio: false,
        });
        this.video.srcObject = stream;
        await this.video.play();
        await this.waitForVideo();
        this.button.disabled = false;
        this.setState("ready", "Camera ready. Fit your face inside the oval, then press the button.");
      } catch (error) {
        const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
        this.setState("failure", denied
          ? "Camera access was refused. Allow the camera for this site and reload the page."
          : "No camera found. Connect a webcam and reload the page.");
      }
    }

    async waitForVideo() {
      for (let i = 0; i < 100 && !(this.video.videoWidth > 0); i += 1) {
        await sleep(50);
      }
    }

    grabFrame() {
      const width = this.video.videoWidth;
      const height = this.video.videoHeight;
      this.canvas.width = width;
      this.canvas.height = height;
      const context = this.canvas.getContext("2d");
      context.drawImage(this.video, 0, 0, width, height);
      return this.canvas.toDataURL("image/jpeg", 0.9);
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
        const frame = this.grabFrame();
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
      const response = await fetch(this.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRF-Token": csrfToken(),
        },
        body: JSON.stringify({ frames: frames }),
      });
      let body = null;
      try {
        body = await response.json();
      } catch (error) {
        body = null;
      }
      if (!body || typeof body !== "object") {
        body = { ok: false, message: "The server could not answer (" + response.status + "). Please try again." };
      }
      return body;
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
        this.setState("failure", result.message || "That did not work. Please try again.");
        this.button.disabled = false;
        this.button.textContent = "Try again";
        if (result.login_url) {
          this.continueLink.href = result.login_url;
          this.continueLink.textContent = "Log in again";
          this.continueLink.hidden = false;
        }
      }
    }

    succeed(result) {
      this.setState("success", result.message || "Done.");
      const next = result.redirect || this.successUrl;
      if (this.mode === "verify" && next) {
        window.setTimeout(() => window.location.assign(next), 800);
        return;
      }
      if (next) {
        this.continueLink.href = next;
        this.continueLink.hidden = false;
        this.continueLink.focus();
      }
    }
  }

  function init() {
    for (const root of document.querySelectorAll("[data-camera]")) {
      new CameraWidget(root).start();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
