"""Model files: locating them in installed wheels, verifying, translating to ONNX, opening sessions.

``registry`` is the one place the rest of the app calls; ``tensorflow`` (with its ``graphdef`` reader)
and ``tflite`` translate one source format each; ``sessions`` holds the ONNX Runtime options. Nothing
here knows faces: the vision pipeline (``faceauth.vision``) gets ready sessions from ``registry``."""
