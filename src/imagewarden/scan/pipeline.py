"""Image in, ``ScanReport`` out: resolve → analyse each layer (or take it from the cache) →
apply → detect.

Content scanners (malware, secrets) run inside the layer walk; their findings are cached
with the layer (the key includes each scanner's name and fingerprint) and reach the
detectors as ``ImageContents.findings``.

A broken or unsafe source raises a ``ScanError`` subclass (callers turn it into SCAN_ERR);
an unreadable file is an ``Unknown`` in the report; a failing detector becomes its
category's ``error`` and never spoils another category.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from imagewarden.scan.analyzer.base import Analyzer
from imagewarden.scan.analyzer.ownership import OwnedFilesRecorder
from imagewarden.scan.analyzer.registry import DEFAULT_ANALYZERS
from imagewarden.scan.apply import apply_layers
from imagewarden.scan.cache import LayerCache, cache_key
from imagewarden.scan.detect.base import ContentScanner, Detector, DetectorOutcome
from imagewarden.scan.errors import ScanError, SourceError, UnsafeArchiveError
from imagewarden.scan.model import Digest, LayerFacts, LayerSummary, ScanReport
from imagewarden.scan.source.base import ImageSource, Layer
from imagewarden.scan.walker import DEFAULT_LIMITS, WalkLimits, walk_layer

#: progress callback: (layer index from 0, layer count, layer, facts came from the cache)
Progress = Callable[[int, int, Layer, bool], None]


def scan_image(
    source: ImageSource,
    *,
    analyzers: Sequence[Analyzer] = DEFAULT_ANALYZERS,
    cache: LayerCache | None = None,
    limits: WalkLimits = DEFAULT_LIMITS,
    detectors: Sequence[Detector] = (),
    content_scanners: Sequence[ContentScanner] = (),
    progress: Progress | None = None,
    ref: str = "",
) -> ScanReport:
    """Scan one resolved image source.

    ``content_scanners`` look at file bytes during the walk; pass the detectors that turn
    their findings into outcomes (e.g. from ``imagewarden.scan.detect.registry``).
    """
    timings: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    try:
        manifest = source.manifest()
        config = source.config()
        layers = tuple(source.layers())
    except ScanError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"cannot resolve the image: {exc}") from exc
    timings.append(("resolve", time.perf_counter() - t0))

    options = limits.cache_options()
    keys = [cache_key(layer.diff_id, analyzers, options, content_scanners) for layer in layers]
    missing = cache.missing(keys) if cache is not None else set(keys)
    t_layers = time.perf_counter()
    applied: list[tuple[Digest, LayerFacts]] = []
    summaries: list[LayerSummary] = []
    # keeps the OS packages' file lists (LayerFacts.owned_files) the walker's merge leaves out
    recorder = OwnedFilesRecorder(analyzers)
    for i, (layer, key) in enumerate(zip(layers, keys, strict=True)):
        t = time.perf_counter()
        facts = cache.get(key) if cache is not None and key not in missing else None
        cached = facts is not None
        if facts is None:
            if layer.size > limits.max_layer_bytes:
                # refused before a byte is read: the blob alone (which a layer's tar stream is
                # at least as big as, give or take compression framing) exceeds the limit, so
                # reading up to the limit would only cost time (a sparse file costs no disk)
                raise UnsafeArchiveError(
                    f"layer {layer.digest}: the blob is {layer.size} bytes, above the "
                    f"{limits.max_layer_bytes}-byte layer limit"
                )
            facts = recorder.attach(walk_layer(layer, recorder.analyzers, limits, content_scanners))
            if cache is not None:
                cache.put(key, facts)
        applied.append((layer.diff_id, facts))
        summaries.append(
            LayerSummary(
                layer.digest,
                layer.diff_id,
                layer.media_type,
                layer.size,
                cached,
                time.perf_counter() - t,
            )
        )
        if progress is not None:
            progress(i, len(layers), layer, cached)
    timings.append(("layers", time.perf_counter() - t_layers))

    t = time.perf_counter()
    contents = apply_layers(
        config.digest, applied, config=config, max_symlink_hops=limits.max_symlink_hops
    )
    timings.append(("apply", time.perf_counter() - t))

    outcomes: list[DetectorOutcome] = []
    for detector in detectors:
        t = time.perf_counter()
        try:
            outcome = detector.detect(contents)
        except Exception as exc:  # one failing category never spoils another
            outcome = DetectorOutcome(
                category=detector.category, error=f"{type(exc).__name__}: {exc}"[:1000]
            )
        outcomes.append(outcome)
        timings.append((f"detect:{detector.category}", time.perf_counter() - t))

    return ScanReport(
        image_id=config.digest,
        repo_tags=tuple(sorted(manifest.repo_tags)),
        repo_digests=tuple(sorted(manifest.repo_digests)),
        manifest_digest=manifest.digest,
        os=contents.os,
        components=contents.components,
        unknowns=contents.unknowns,
        outcomes=tuple(sorted(outcomes, key=lambda o: o.category.value)),
        size=sum(max(0, layer.size) for layer in layers),
        created=config.created,
        architecture=config.architecture,
        layer_count=len(layers),
        layers=tuple(summaries),
        timings=tuple(timings),
        source=ref,
        os_name_config=config.os,
    )
