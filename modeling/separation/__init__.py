"""Component separation (paper, 5.1): each collection's trait components found by image differencing.

`separate` (the entry: `SeparationParams`, `separate_collection`) peels the layers (`peeling`), refines them
(`refine`), on a working grid (`grid`) at a colour tolerance (`tolerance`), with pixel helpers (`pixels`), into
`component.Component`s; `job` runs it over a dataset into the component library (`library`, the dataset's
``components`` config) and its sheets (`sheets`).
"""
