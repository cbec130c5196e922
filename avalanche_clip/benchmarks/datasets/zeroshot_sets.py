"""Zero-shot sets: labelled images scored with their own class names and prompt templates.

Three sources, each giving a :class:`~avalanche_clip.benchmarks.datasets.ZeroShotDataset`:

- a torchvision classification dataset with ``.classes`` (CIFAR-100, ImageNet, ...):
  :class:`TorchvisionZeroShot` wraps one, :func:`torchvision_zeroshot` builds one by name;
- an ImageFolder-layout directory (``root/<class>/<image>``): :meth:`ZeroShotImages.from_folder`;
- a JSON list ``{"image_names": [...], "image_labels": [...], "label_names": [...]}``:
  :meth:`ZeroShotImages.from_json`.

:func:`zeroshot_dataset` builds any of them from a plain mapping that a YAML config can hold,
e.g. ``{"kind": "torchvision", "name": "CIFAR100", "root": "/data", "train": False}``.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from torch.utils.data import Dataset
from torchvision.datasets import VisionDataset

from ..._checks import check_class_names, check_name
from .files import check_files_exist, read_json, require_dir, require_file, require_keys, require_list
from .images import ImageErrorPolicy, OnError, read_rgb
from .template_sets import DEFAULT_ZEROSHOT_TEMPLATES, resolve_templates

logger = logging.getLogger(__name__)

Transform = Callable[[Any], Any]

JSON_LIST_FORMAT = (
    '{"image_names": ["a/1.jpg", ...], "image_labels": [0, ...], "label_names": ["cat", ...]} '
    "(image_labels index label_names; image_names relative to images_root)"
)


class ZeroShotImages(VisionDataset):
    """Labelled image files with class names and prompt templates; the zero-shot set of files.

    ``dataset[i]`` is ``(image, label)`` (``transform`` applied). Every file is checked to exist
    at construction; one that cannot be decoded is handled by ``on_error`` (see
    :class:`~avalanche_clip.benchmarks.datasets.ImageErrorPolicy`). Usually built by
    :meth:`from_folder` or :meth:`from_json`.

    Args:
        image_paths: the image files.
        labels: the label of each image, an index into ``classes``.
        classes: the class names, used in the prompts.
        templates: a template-set name, a template-set JSON file, one template, or a list of
            templates (see :func:`~avalanche_clip.benchmarks.datasets.resolve_templates`).
        transform: applied to each PIL image (e.g. ``clip_eval_transform()``).
        on_error: ``"skip"`` or ``"raise"`` on an image that cannot be decoded.
        source: the file or folder the list comes from, for messages and ``repr``.
    """

    def __init__(
        self,
        *,
        image_paths: Sequence[str | os.PathLike],
        labels: Sequence[int],
        classes: Sequence[str],
        templates: str | Sequence[str] = DEFAULT_ZEROSHOT_TEMPLATES,
        transform: Transform | None = None,
        on_error: OnError = "skip",
        source: str = "an image list",
    ):
        super().__init__(source, transform=transform)
        self.classes = list(check_class_names(classes))
        self.class_to_idx = {name: label for label, name in enumerate(self.classes)}
        self.templates = resolve_templates(templates)
        self.image_paths = [Path(p) for p in image_paths]
        self.targets = [int(label) for label in labels]
        if len(self.targets) != len(self.image_paths):
            raise ValueError(f"{source}: {len(self.image_paths)} images but {len(self.targets)} labels.")
        if not self.image_paths:
            raise ValueError(f"{source} lists no image.")
        outside = sorted({t for t in self.targets if not 0 <= t < len(self.classes)})
        if outside:
            raise ValueError(f"{source}: labels {outside[:10]} are outside 0..{len(self.classes) - 1} "
                             f"({len(self.classes)} classes).")
        check_files_exist(self.image_paths, listed_in=source, get="every listed image to exist")
        self._policy = ImageErrorPolicy(self.targets, on_error=on_error, dataset=f"zero-shot set {source}")

    @classmethod
    def from_folder(
        cls,
        root: str | os.PathLike,
        *,
        class_names: Sequence[str] | Mapping[str, str] | None = None,
        templates: str | Sequence[str] = DEFAULT_ZEROSHOT_TEMPLATES,
        transform: Transform | None = None,
        on_error: OnError = "skip",
    ) -> "ZeroShotImages":
        """The images of an ImageFolder-layout directory: ``root/<class folder>/<image>``.

        Classes are the sorted folder names (torchvision's ``ImageFolder`` order), labels index
        them; image files are those with an image extension.

        Args:
            root: the directory.
            class_names: the name used in the prompts for each class: a list in sorted folder
                order, or a mapping folder -> name (e.g. WordNet id -> name); default: the
                folder names.
            templates, transform, on_error: as in the constructor.
        """
        from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

        root = require_dir(root, what="image folder", get="one sub-folder of images per class (ImageFolder layout)")
        folders, folder_to_idx = find_classes(root)
        samples = make_dataset(root, folder_to_idx, extensions=IMG_EXTENSIONS)
        return cls(image_paths=[p for p, _ in samples], labels=[label for _, label in samples],
                   classes=_folder_class_names(folders, class_names, root), templates=templates,
                   transform=transform, on_error=on_error, source=str(root))

    @classmethod
    def from_json(
        cls,
        path: str | os.PathLike,
        *,
        images_root: str | os.PathLike | None = None,
        keep_unused_classes: bool = False,
        templates: str | Sequence[str] = DEFAULT_ZEROSHOT_TEMPLATES,
        transform: Transform | None = None,
        on_error: OnError = "skip",
    ) -> "ZeroShotImages":
        """The images of a JSON list ``{"image_names", "image_labels", "label_names"}``.

        This is the few-shot split format (``base.json`` / ``novel.json``) whose
        ``label_names`` often list every class of the full dataset while the file holds images
        of only some: by default, classes with no image are left out (labels renumbered in
        ``label_names`` order, the count logged), so the set is classified among its own classes.

        Args:
            path: the JSON file.
            images_root: the folder ``image_names`` are relative to; default: the JSON file's
                folder. Absolute ``image_names`` are used as they are.
            keep_unused_classes: keep every ``label_names`` entry as a class, even without images.
            templates, transform, on_error: as in the constructor.
        """
        path = require_file(path, what="zero-shot JSON list", get=JSON_LIST_FORMAT)
        data = require_keys(read_json(path, what="zero-shot JSON list"),
                            ["image_names", "image_labels", "label_names"], where=str(path), expected=JSON_LIST_FORMAT)
        names, labels, label_names = (
            require_list(data[key], where=f"{path}: {key}", expected=JSON_LIST_FORMAT)
            for key in ("image_names", "image_labels", "label_names")
        )
        if not all(isinstance(label, int) and not isinstance(label, bool) for label in labels):
            raise ValueError(
                f"{path}: image_labels must be integers indexing label_names. Expected {JSON_LIST_FORMAT}."
            )
        if not all(isinstance(name, str) and name for name in names):
            raise ValueError(f"{path}: image_names must be non-empty file names. Expected {JSON_LIST_FORMAT}.")
        root = require_dir(images_root, what="images folder", get=f"the folder the image_names of {path} are "
                           "relative to") if images_root is not None else path.parent
        if not keep_unused_classes:
            labels, label_names = _drop_unused_classes(labels, label_names, str(path))
        return cls(image_paths=[root / name for name in names], labels=labels, classes=label_names,
                   templates=templates, transform=transform, on_error=on_error, source=str(path))

    @property
    def unreadable(self) -> set[str]:
        """The image files found unreadable so far in this process (``on_error="skip"``)."""
        return self._policy.unreadable

    def _read(self, index: int) -> tuple[Any, int]:
        image = read_rgb(self.image_paths[index])
        return (image if self.transform is None else self.transform(image)), self.targets[index]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self._policy.read(index, self._read)

    def __len__(self) -> int:
        return len(self.targets)

    def extra_repr(self) -> str:
        return f"Classes: {len(self.classes)}\nTemplates: {len(self.templates)}"


def _folder_class_names(folders: list[str], class_names: Sequence[str] | Mapping[str, str] | None,
                        root: Path) -> list[str]:
    if class_names is None:
        return folders
    if isinstance(class_names, Mapping):
        missing = [f for f in folders if f not in class_names]
        if missing:
            raise ValueError(f"class_names has no name for the folders {missing[:5]} of {root} "
                             f"({len(missing)} of {len(folders)} missing).")
        return [class_names[f] for f in folders]
    if len(class_names) != len(folders):
        raise ValueError(f"class_names has {len(class_names)} names but {root} has {len(folders)} class "
                         "folders: give one name per folder, in sorted folder order, or a mapping folder -> name.")
    return list(class_names)


def _drop_unused_classes(labels: list[int], label_names: list[Any], source: str) -> tuple[list[int], list[Any]]:
    """Keep the classes that have images, renumbering the labels in ``label_names`` order."""
    if any(not 0 <= label < len(label_names) for label in labels):
        return labels, label_names  # the constructor refuses them, naming them
    used = sorted(set(labels))
    if len(used) == len(label_names):
        return labels, label_names
    logger.warning("%s: %d of its %d label_names have no image and are left out of the classes "
                   "(keep_unused_classes=True keeps them).", source, len(label_names) - len(used), len(label_names))
    new_label = {old: new for new, old in enumerate(used)}
    return [new_label[label] for label in labels], [label_names[old] for old in used]


class TorchvisionZeroShot(Dataset):
    """A torchvision classification dataset as a zero-shot set, with its classes and templates.

    ``dataset[i]`` is the wrapped dataset's ``(image, label)`` (its own transform applied).

    Args:
        dataset: any dataset of ``(image, label)`` with a ``.classes`` list (CIFAR100,
            ImageNet, Food101, ...), unless ``classes`` is given.
        classes: the class names for the prompts; default: ``dataset.classes``, taking the first
            synonym where an entry is a tuple (ImageNet).
        templates: as in :class:`ZeroShotImages`.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        classes: Sequence[str] | None = None,
        templates: str | Sequence[str] = DEFAULT_ZEROSHOT_TEMPLATES,
    ):
        if classes is None:
            if not hasattr(dataset, "classes"):
                raise ValueError(f"{type(dataset).__name__} has no .classes: pass classes=[one name per label].")
            classes = [c[0] if isinstance(c, (tuple, list)) else c for c in dataset.classes]
        try:
            self.classes = list(check_class_names(classes))
        except ValueError as error:
            raise ValueError(f"{type(dataset).__name__}: {error} Pass classes=[...] with distinct names.") from error
        self.templates = resolve_templates(templates)
        self.dataset = dataset
        targets = getattr(dataset, "targets", None)
        self.targets = None if targets is None else [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.dataset[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.classes)} classes, {len(self.templates)} templates)\n{self.dataset!r}"


def _torchvision_datasets() -> dict[str, type]:
    import torchvision.datasets as datasets

    return {name: getattr(datasets, name) for name in datasets.__all__
            if isinstance(getattr(datasets, name), type) and issubclass(getattr(datasets, name), VisionDataset)}


def torchvision_zeroshot(
    name: str,
    root: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    templates: str | Sequence[str] = DEFAULT_ZEROSHOT_TEMPLATES,
    transform: Transform | None = None,
    **dataset_kwargs: Any,
) -> TorchvisionZeroShot:
    """Build the torchvision dataset ``name`` from local files and wrap it as a zero-shot set.

    Args:
        name: a ``torchvision.datasets`` class (``"CIFAR100"``, ``"ImageNet"``, ...).
        root: its ``root`` folder (nothing is downloaded).
        classes, templates: as in :class:`TorchvisionZeroShot`.
        transform: the dataset's image transform.
        dataset_kwargs: the dataset's other arguments, e.g. ``train=False`` (CIFAR) or
            ``split="val"`` (ImageNet).
    """
    available = _torchvision_datasets()
    check_name("torchvision dataset", name, available)
    root = require_dir(root, what=f"{name} root folder", get=f"the files of torchvision's {name} (root=...)")
    try:
        dataset = available[name](root=str(root), transform=transform, **dataset_kwargs)
    except TypeError as error:
        raise ValueError(f"torchvision {name}: {error}. Its arguments: "
                         f"{', '.join(inspect.signature(available[name]).parameters)}.") from error
    return TorchvisionZeroShot(dataset, classes=classes, templates=templates)


ZEROSHOT_KINDS: dict[str, Callable[..., Any]] = {
    "folder": ZeroShotImages.from_folder,
    "json": ZeroShotImages.from_json,
    "torchvision": torchvision_zeroshot,
}
"""The ``kind`` of a zero-shot spec -> its builder; the spec's other keys are its arguments."""


def zeroshot_dataset(spec: Mapping[str, Any], *, transform: Transform | None = None) -> Dataset:
    """Build a zero-shot set from a spec that a YAML config can hold.

    Args:
        spec: ``{"kind": "folder" | "json" | "torchvision", ...}``, the other keys being the
            arguments of :meth:`ZeroShotImages.from_folder` (``root``, ``class_names``,
            ``templates``, ...), :meth:`ZeroShotImages.from_json` (``path``, ``images_root``,
            ...) or :func:`torchvision_zeroshot` (``name``, ``root``, dataset arguments).
        transform: the image transform (the eval transform of the model).
    """
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise ValueError(f"A zero-shot spec must be a mapping with a 'kind' ({', '.join(ZEROSHOT_KINDS)}), "
                         f"got {spec!r}.")
    kind = check_name("zero-shot set kind", spec["kind"], ZEROSHOT_KINDS)
    build = ZEROSHOT_KINDS[kind]
    arguments = {key: value for key, value in spec.items() if key != "kind"}
    parameters = inspect.signature(build).parameters
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    valid = [name for name, p in parameters.items()
             if p.kind is not inspect.Parameter.VAR_KEYWORD and name != "transform"]
    unknown = [key for key in arguments if key == "transform" or (key not in valid and not open_ended)]
    missing = [name for name in valid if parameters[name].default is inspect.Parameter.empty and name not in arguments]
    if unknown or missing:
        raise ValueError(
            f"Zero-shot spec {dict(spec)!r}: unknown keys {unknown}, missing keys {missing}. Keys of kind "
            f"{kind!r}: {', '.join(valid)}{' and the dataset class arguments' if open_ended else ''} "
            "(the transform is given by the caller)."
        )
    return build(**arguments, transform=transform)


__all__ = [
    "JSON_LIST_FORMAT",
    "TorchvisionZeroShot",
    "ZEROSHOT_KINDS",
    "ZeroShotImages",
    "torchvision_zeroshot",
    "zeroshot_dataset",
]
