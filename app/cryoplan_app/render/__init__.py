"""VTK scene building blocks for the views (no Qt): image data, slice and 3-D scenes, surfaces.

World coordinates are patient LPS millimetres. Image data keep the voxel grid
with its spacing and a zero origin; each actor carries the geometry's origin
and direction as its user matrix, so oblique images sit where they belong.
"""
