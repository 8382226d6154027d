"""faceauth: face-recognition login (MTCNN detection, FaceNet embeddings)."""

__version__ = "0.1.0"
