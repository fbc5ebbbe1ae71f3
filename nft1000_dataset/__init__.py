"""NFT1000 as a `datasets` dataset: reading the release, captions, splits, the builder, export, synthesis."""

from .attributes import Attribute, MetadataError, normalize_attributes
from .builder import MINI_PAIRS_PER_COLLECTION, NFT1000, NFT1000Config
from .captions import build_caption, build_prompt, caption_phrases
from .examples import FEATURES
from .export import ExportError, export_release
from .media import MediaError, standardize_image
from .plan import BuildOptions
from .release import CollectionSource, ReleaseError, discover_collections
from .report import BuildReport, Tally
from .splits import PartitionError, read_partition_file, seeded_partition
from .synth import synthesize

__all__ = [
    "FEATURES",
    "MINI_PAIRS_PER_COLLECTION",
    "NFT1000",
    "Attribute",
    "BuildOptions",
    "BuildReport",
    "CollectionSource",
    "ExportError",
    "MediaError",
    "MetadataError",
    "NFT1000Config",
    "PartitionError",
    "ReleaseError",
    "Tally",
    "build_caption",
    "build_prompt",
    "caption_phrases",
    "discover_collections",
    "export_release",
    "normalize_attributes",
    "read_partition_file",
    "seeded_partition",
    "standardize_image",
    "synthesize",
]
