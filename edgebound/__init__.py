"""edgebound: exact baselines, bounds, MPC and simulators for edge-cloud resource management.

Examples
--------
>>> import edgebound
>>> inst = edgebound.load("gentzen-star4")
>>> inst.name
'gentzen-star4'
"""

from edgebound.instances import Instance, load, save

__all__ = ["Instance", "__version__", "load", "save"]

__version__ = "0.1.0"
