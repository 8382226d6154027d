/* faceauth webcam widgets: what the plain capture (camera.js) and the liveness challenge
 * (liveness.js) share. Loaded before either; exposes window.faceauthWebcam.
 *
 * A widget is a <section data-camera> (see _camera.html) with data-endpoint, data-mode ("enroll" or
 * "verify") and data-success-url. Requests carry the X-CSRF-Token header from
 * <meta name="csrf-token">; the session cookie travels by itself.
 */
"use strict";

(function () {
  const sleep = (ms) => new Promise((resolve) => window.setTimeout(resolve, ms));

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* POST a JSON body; answers {status, data} with data an object ({} when the body was not JSON). */
  async function postJson(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { status: response.status, data: data && typeof data === "object" ? data : {} };
  }

  class WebcamWidget {
    constructor(root) {
      this.root = root;
      this.endpoint = root.dataset.endpoint;
      this.mode = root.dataset.mode;
      this.successUrl = root.dataset.successUrl;
      this.video = root.querySelector("video.preview");
      this.canvas = root.querySelector("canvas.grab");
      this.status = root.querySelector(".camera-status");
      this.button = root.querySelector("button.capture");
      this.continueLink = root.querySelector("a.continue");
    }

    setState(state, message) {
      this.root.dataset.state = state;
      this.status.textContent = message;
    }

    /* Opens the camera and enables the button, or says why it cannot. */
    async start(readyMessage) {
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
        for (let i = 0; i < 100 && !(this.video.videoWidth > 0); i += 1) {
          await sleep(50);
        }
        this.button.disabled = false;
        this.setState("ready", readyMessage);
      } catch (error) {
        const denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
        this.setState("failure", denied
          ? "Camera access was refused. Allow the camera for this site and reload the page."
          : "No camera found. Connect a webcam and reload the page.");
      }
    }

    /* The current video frame as a JPEG data URL. */
    grabFrame(quality) {
      const width = this.video.videoWidth;
      const height = this.video.videoHeight;
      this.canvas.width = width;
      this.canvas.height = height;
      this.canvas.getContext("2d").drawImage(this.video, 0, 0, width, height);
      return this.canvas.toDataURL("image/jpeg", quality);
    }

    /* A refused attempt: the server's message, the button back as "Try again", and a way to log
     * in again when the session has ended. */
    fail(result) {
      this.setState("failure", result.message || "That did not work. Please try again.");
      this.button.disabled = false;
      this.button.textContent = "Try again";
      if (result.login_url) {
        this.continueLink.href = result.login_url;
        this.continueLink.textContent = "Log in again";
        this.continueLink.hidden = false;
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

  function onReady(selector, create) {
    const init = () => {
      for (const root of document.querySelectorAll(selector)) {
        create(root).start();
      }
    };
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", init);
    } else {
      init();
    }
  }

  window.faceauthWebcam = { sleep, postJson, WebcamWidget, onReady };
})();
