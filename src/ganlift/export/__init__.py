"""Export lifted samples: textured meshes (OBJ+MTL+PNG, PLY, GLB), turntables, figure grids.

Mesh orientation and units are documented in :mod:`ganlift.export.mesh` (+y up, front
facing +z, one unit = camera-to-pivot distance, object centred at the origin by default).

Example:
    >>> import ganlift
    >>> from ganlift import export
    >>> lifter = ganlift.Lifter.from_pretrained("runs/demo")
    >>> export.to_glb(lifter, "face.glb", seed=3)              # canonical, object only
    >>> export.to_obj(lifter, "posed.obj", seed=3, posed=True, yaw=30)
    >>> export.turntable(lifter, "spin.gif", seed=3, frames=36)
    >>> export.figure_grid(lifter, "grid.png", n=4)
    >>> export.interpolation_figure(lifter, "fig5.png", a=3, b=7)   # paper figure 5
    >>> export.style_transfer_figure(lifter, "fig9.png")            # paper figure 9
"""

from ganlift.export.figures import depth_to_rgb, labelled_grid, normal_to_rgb
from ganlift.export.lifted import (
    export_mesh,
    figure_grid,
    lifted_mesh,
    object_mask,
    relight_sweep,
    to_glb,
    to_obj,
    to_ply,
    turntable,
)
from ganlift.export.paper_figures import (
    interpolation_animation,
    interpolation_figure,
    reconstruction_figure,
    style_transfer_figure,
    tile_grid,
)
from ganlift.export.mesh import (
    Mesh,
    depth_to_mesh,
    points_to_mesh,
    save_mesh,
    write_glb,
    write_obj,
    write_ply,
)
from ganlift.export.video import light_sweep, save_animation, yaw_sweep

__all__ = [
    "Mesh",
    "depth_to_mesh",
    "points_to_mesh",
    "save_mesh",
    "write_obj",
    "write_ply",
    "write_glb",
    "lifted_mesh",
    "export_mesh",
    "object_mask",
    "to_obj",
    "to_ply",
    "to_glb",
    "turntable",
    "relight_sweep",
    "figure_grid",
    "interpolation_figure",
    "interpolation_animation",
    "style_transfer_figure",
    "reconstruction_figure",
    "tile_grid",
    "labelled_grid",
    "normal_to_rgb",
    "depth_to_rgb",
    "save_animation",
    "yaw_sweep",
    "light_sweep",
]
