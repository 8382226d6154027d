"""The web pages: server-rendered HTML (Jinja2) plus small scripts for the webcam.

Sessions live in cookies, never in JavaScript:

- ``faceauth_token`` (HttpOnly, SameSite=Lax, Secure over HTTPS or in production) holds the JWT. The
  password step sets a password-stage token, which opens only the face pages; a successful face
  verification replaces it with a full-stage token, which opens the dashboard and the account page.
  The face pages post their frames to page endpoints (``POST /face/enroll``, ``POST /face/verify``),
  which call the same face-login use case as the JSON API and, on a verified face, set the
  full-stage cookie themselves: the token never passes through JavaScript.
- ``faceauth_csrf`` (HttpOnly, SameSite=Lax) holds a random CSRF token, issued on the first page view
  and renewed at login and logout. Every HTML form carries it in the hidden field ``csrf_token``, and
  the webcam script sends it in the ``X-CSRF-Token`` header (it reads it from ``<meta
  name="csrf-token">``); ``web.csrf`` checks both, for the pages and the API alike.

Pages authenticate with the API's own dependency (``web.deps.authenticate``); the security headers
are the application's middleware (``web.security_headers``); errors in page routes become friendly
HTML pages (or ``{"ok": false, "message"}`` for the webcam script) through ``web.errors``.

Modules: ``router`` (all page routes), ``routing`` (the page route class and page dependencies),
``rendering`` (templates, cookies, wording), ``errors`` (error pages), and one module per area:
``auth``, ``face``, ``apps``, ``account``."""
