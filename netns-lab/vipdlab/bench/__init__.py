"""The benchmarks against keepalived (``lab.py bench-*``; on demand, never in CI).

One way to measure for all of them, in :mod:`.common`: one percentile (linear
interpolation), one lateness definition, one advert tap (:class:`AdvertTap`, on
the lab's :class:`vipdlab.lab.sniff.Tap`), one way to save results and one report
helper (:func:`.common.report`). :mod:`.all` runs every benchmark in one go and
writes docs/performance.md's generated section.
"""
