"""Presentation attacks that animate ONE still photo of a person into a liveness challenge stream.

Three generators, written independently of one another (issue 14, item 3):

- ``mesh_warp``: faceauth's own renderer (``faceauth.vision.synthetic``): the 468-point face mesh
  rotated in 3-D, the photo warped triangle by triangle, a painted eyelid;
- ``tps``: a thin-plate-spline warp driven by MTCNN's 5 facial points and a fixed ring around the head,
  the blink a vertical slide of the upper-lid skin over the eye;
- ``depth``: the photo reprojected through a depth map (a head ellipsoid with a nose ridge), row by row,
  with a shaded eyelid drawn over each eye.

Each takes the photo and the asked moves and gives frames at 8 fps (``base.paced`` plays them in real
time, with timing jitter, sub-pixel camera shake and sensor noise). No learning, NumPy and OpenCV only.
"""
