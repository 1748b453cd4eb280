"""Dataset formats (Django-free): one short module per format, each registering itself here.

The registry only names the formats and what they read and write, so commands and docs can list
them; the import and export services call the modules directly.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetFormat:
    name: str
    description: str
    module: str


FORMATS: dict[str, DatasetFormat] = {}


def register(name: str, *, description: str, module: str) -> DatasetFormat:
    """Record a format under its name (a second registration of the same name is a bug)."""
    if name in FORMATS:
        raise ValueError(f"format {name!r} is registered twice")
    FORMATS[name] = DatasetFormat(name=name, description=description, module=module)
    return FORMATS[name]


def available_formats() -> list[DatasetFormat]:
    """Return the registered formats, by name."""
    from annotator.datasets.formats import affectnet_csv, affectnet_npy, answer_tables, hf_dataset  # noqa: F401 (importing registers them)

    return [FORMATS[name] for name in sorted(FORMATS)]
