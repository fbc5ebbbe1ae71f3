"""NFT1000 as a `datasets` dataset: reading the release, captions, splits, the builder, export and Hub push;
the synthetic generator (`synth/`) and on-chain collection (`collect/`) as subpackages.

The names below are imported on first use (PEP 562), so that importing a light module of the package (the
command line's parser does) does not import `datasets` and the rest.
"""

from importlib import import_module

_EXPORTS = {
    "FEATURES": "examples",
    "MINI_PAIRS_PER_COLLECTION": "plan",
    "NFT1000": "builder",
    "NFT1000Config": "builder",
    "Attribute": "attributes",
    "BuildOptions": "plan",
    "BuildReport": "report",
    "CollectionSource": "release",
    "ExportError": "export",
    "MediaError": "media",
    "MetadataError": "attributes",
    "PartitionError": "splits",
    "ReleaseError": "release",
    "Tally": "report",
    "build_caption": "captions",
    "build_prompt": "captions",
    "caption_phrases": "captions",
    "discover_collections": "release",
    "export_release": "export",
    "load_collections": "exported",
    "normalize_attributes": "attributes",
    "read_partition_file": "splits",
    "seeded_partition": "splits",
    "standardize_image": "media",
    "synthesize": "synth",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
