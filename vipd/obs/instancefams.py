"""The per-instance metric families, defined once, encoded two ways.

With 255 instances ``/metrics`` holds ~12,000 per-instance samples. Building them as
prometheus_client ``Metric``/``Sample`` objects and formatting them with
``generate_latest`` cost ~25 µs a sample on the lab machine; :func:`instance_text`
writes the same text 0.0.4 lines directly (~3 µs a sample). Both read one table,
:data:`FAMILIES`, and one generator, :func:`instance_samples`, so they cannot
disagree (``tests/unit/obs/test_obs_scrape.py`` compares them).

Names and labels follow mehdy/keepalived-exporter where it has the metric; the
list is in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString as _go_float

from vipd.obs.stats import Histogram
from vipd.obs.status import STATE_NUMBER, InstanceRow, stats_json

COMMON = ("iname", "intf", "vrid")
"""keepalived-exporter's label set for per-instance series."""

# keepalived-exporter counter name (without _total) -> key of stats_json()
KEEPALIVED_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("keepalived_advertisements_received", "advert_rcvd", "Advertisements received"),
    ("keepalived_advertisements_sent", "advert_sent", "Advertisements sent"),
    ("keepalived_become_master", "become_master", "Times the instance became master"),
    ("keepalived_release_master", "release_master", "Times the instance left master"),
    ("keepalived_packet_length_errors", "packet_len_err", "Packets with a bad length"),
    ("keepalived_advertisements_interval_errors", "advert_interval_err", "Adverts with a mismatched interval"),
    ("keepalived_ip_ttl_errors", "ip_ttl_err", "Packets with TTL/hop limit other than 255"),
    ("keepalived_invalid_type_received", "invalid_type_rcvd", "Packets with an invalid VRRP type"),
    ("keepalived_address_list_errors", "addr_list_err", "Adverts whose address list differs from ours"),
    ("keepalived_authentication_invalid", "invalid_authtype", "Adverts with an unknown auth type"),
    ("keepalived_authentication_mismatch", "authtype_mismatch", "Adverts with another auth type"),
    ("keepalived_authentication_failure", "auth_failure", "Adverts failing authentication"),
    ("keepalived_priority_zero_received", "pri_zero_rcvd", "Priority-0 adverts received"),
    ("keepalived_priority_zero_sent", "pri_zero_sent", "Priority-0 adverts sent"),
)


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: name (without ``_total``), ``gauge``/``counter``/``histogram``, help, label names."""

    name: str
    kind: str
    doc: str
    labels: tuple[str, ...]


def _f(name: str, kind: str, doc: str, *extra: str, common: bool = True) -> Family:
    return Family(name, kind, doc, (*COMMON, *extra) if common else extra)


FAMILIES: tuple[Family, ...] = (
    _f("keepalived_vrrp_state", "gauge", "Instance state per VIP: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT", "ip_address"),
    _f(
        "keepalived_vrrp_excluded_state",
        "gauge",
        "Instance state per virtual_ipaddress_excluded address: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT",
        "ip_address",
    ),
    _f(
        "keepalived_gratuitous_arp_delay",
        "counter",
        "Configured garp_master_delay in seconds (as keepalived-exporter)",
    ),
    *(_f(name, "counter", doc) for name, _key, doc in KEEPALIVED_COUNTERS),
    _f("vipd_instance_state", "gauge", "1 for the instance's current state", "state"),
    _f("vipd_instance_priority", "gauge", "Priority: configured base and effective (advertised)", "kind"),
    _f("vipd_master_info", "gauge", "1, with the address of the current master", "master"),
    _f("vipd_last_transition_timestamp_seconds", "gauge", "Wall-clock time of the last state change"),
    _f("vipd_transitions", "counter", "State changes by old state, new state and reason", "from", "to", "reason"),
    _f("vipd_adverts_sent", "counter", "VRRP adverts sent"),
    _f("vipd_adverts_received", "counter", "VRRP adverts received for this instance"),
    _f("vipd_adverts_discarded", "counter", "Adverts for this instance dropped, by RFC 6527 reason", "reason"),
    _f("vipd_master_changes", "counter", "Times this instance became master"),
    _f("vipd_advert_send_lateness_seconds", "histogram", "How late each advert left after its Adver_Timer deadline"),
    _f("vipd_vip_repairs", "counter", "VIPs re-added while master after something else deleted them"),
    _f("vipd_address_errors", "counter", "Netlink failures adding or removing VIPs"),
    _f("vipd_notify_runs", "counter", "Notify script runs by kind and result", "kind", "result"),
    _f(
        "vipd_instance_fault_reasons",
        "gauge",
        "1 per cause holding the instance in FAULT: tracking, vip (a VIP cannot be added), link, sync_group:MEMBER",
        "cause",
    ),
    _f("vipd_instance_maintenance", "gauge", "1 while held out of master by vipctl maintenance"),
)
"""Every per-instance family, in output order."""

_INDEX = {f.name: i for i, f in enumerate(FAMILIES)}
_KA = [(_INDEX[name], key) for name, key, _doc in KEEPALIVED_COUNTERS]
(STATE, EXCLUDED, GARP, V_STATE, V_PRIO, V_MASTER, V_LAST, V_TRANS, V_SENT, V_RCVD, V_DISC, V_MCHG, V_LATE) = (
    _INDEX[n]
    for n in (
        "keepalived_vrrp_state",
        "keepalived_vrrp_excluded_state",
        "keepalived_gratuitous_arp_delay",
        "vipd_instance_state",
        "vipd_instance_priority",
        "vipd_master_info",
        "vipd_last_transition_timestamp_seconds",
        "vipd_transitions",
        "vipd_adverts_sent",
        "vipd_adverts_received",
        "vipd_adverts_discarded",
        "vipd_master_changes",
        "vipd_advert_send_lateness_seconds",
    )
)
V_REPAIR, V_ADDR_ERR, V_NOTIFY = (_INDEX[n] for n in ("vipd_vip_repairs", "vipd_address_errors", "vipd_notify_runs"))
V_FAULT = _INDEX["vipd_instance_fault_reasons"]
V_MAINT = _INDEX["vipd_instance_maintenance"]

Sample = tuple[int, tuple[str, ...], "float | Histogram"]
"""(index into FAMILIES, label values in the family's label order, value or histogram)."""


def instance_samples(r: InstanceRow) -> Iterator[Sample]:
    """Every per-instance sample of ``r``, family by family (the one place their values are defined)."""
    lv = (r.name, r.interface, str(r.vrid))
    st = r.stats
    s = stats_json(st)
    num = float(STATE_NUMBER.get(r.state, 0))
    vrid = str(r.vrid)
    if r.vips:
        for addr, dev in r.vips:
            yield STATE, (r.name, dev, vrid, addr.split("/")[0]), num
    else:
        yield STATE, (*lv, ""), num
    for addr, dev in r.excluded_vips:
        yield EXCLUDED, (r.name, dev, vrid, addr.split("/")[0]), num
    yield GARP, lv, float(r.garp_master_delay)
    for idx, key in _KA:
        yield idx, lv, float(s[key])
    for name in STATE_NUMBER:
        yield V_STATE, (*lv, name.lower()), 1.0 if r.state == name else 0.0
    yield V_PRIO, (*lv, "base"), float(r.base_priority)
    yield V_PRIO, (*lv, "effective"), float(r.effective_priority)
    if r.master_address:
        yield V_MASTER, (*lv, r.master_address), 1.0
    if r.last_transition is not None:
        yield V_LAST, lv, r.last_transition.at
    for key, n in sorted(st.transitions.items()):
        edge, _, reason = key.partition(":")
        old, _, new = edge.partition("->")
        yield V_TRANS, (*lv, old, new, reason), float(n)
    yield V_SENT, lv, float(st.adverts_sent)
    yield V_RCVD, lv, float(st.adverts_received)
    for reason, n in sorted(st.discards.items()):
        yield V_DISC, (*lv, reason), float(n)
    yield V_MCHG, lv, float(st.master_transitions)
    yield V_LATE, lv, st.advert_lateness
    yield V_REPAIR, lv, float(st.vip_repairs)
    yield V_ADDR_ERR, lv, float(st.address_errors)
    for key, n in sorted(st.notify_runs.items()):
        kind, _, result = key.partition(":")
        yield V_NOTIFY, (*lv, kind, result), float(n)
    for cause, _reason in r.faults:
        yield V_FAULT, (*lv, cause), 1.0
    yield V_MAINT, lv, 1.0 if r.maintenance else 0.0


# ---------------------------------------------------------------------------------------------- as Metric objects


def instance_metrics(rows: Sequence[InstanceRow]) -> list[Metric]:
    """The families for ``rows`` as prometheus_client objects (what ``collect()`` yields)."""
    fams: list[Metric] = []
    for f in FAMILIES:
        cls = {"gauge": GaugeMetricFamily, "counter": CounterMetricFamily, "histogram": HistogramMetricFamily}[f.kind]
        fams.append(cls(f.name, f.doc, labels=list(f.labels)))
    for r in rows:
        for idx, lv, v in instance_samples(r):
            fam = fams[idx]
            if isinstance(v, Histogram):
                assert isinstance(fam, HistogramMetricFamily)
                fam.add_metric(list(lv), [(b, float(n)) for b, n in v.cumulative()], v.total)
            else:
                fam.add_metric(list(lv), v)  # type: ignore[attr-defined]
    return fams


# ---------------------------------------------------------------------------------------------- as text 0.0.4


def _gofloat(v: float) -> str:
    """A sample value as prometheus_client (and Go) writes it."""
    out: str = _go_float(v)  # type: ignore[no-untyped-call]
    return out


def _escape(v: str) -> str:
    if "\\" in v or "\n" in v or '"' in v:
        return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return v


def _header(f: Family) -> str:
    name = f.name + "_total" if f.kind == "counter" else f.name
    doc = f.doc.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {f.kind}\n"


HEADERS: tuple[str, ...] = tuple(_header(f) for f in FAMILIES)
"""The HELP/TYPE lines of each family, as ``generate_latest`` writes them."""

# label positions in sorted-name order (generate_latest sorts label names); histograms also place "le"
_ORDER = tuple(tuple(sorted(range(len(f.labels)), key=f.labels.__getitem__)) for f in FAMILIES)
_LE_AT = tuple(sum(1 for name in f.labels if name < "le") for f in FAMILIES)


def instance_text(rows: Sequence[InstanceRow]) -> list[list[str]]:
    """Sample lines for ``rows``: one list per family of :data:`FAMILIES`, in text format 0.0.4."""
    out: list[list[str]] = [[] for _ in FAMILIES]
    for r in rows:
        for idx, lv, v in instance_samples(r):
            f = FAMILIES[idx]
            parts = [f'{f.labels[i]}="{_escape(lv[i])}"' for i in _ORDER[idx]]
            lines = out[idx]
            if isinstance(v, Histogram):
                at = _LE_AT[idx]
                for bound, n in v.cumulative():
                    labels = ",".join([*parts[:at], f'le="{bound}"', *parts[at:]])
                    lines.append(f"{f.name}_bucket{{{labels}}} {_gofloat(n)}\n")
                labels = ",".join(parts)
                lines.append(f"{f.name}_count{{{labels}}} {_gofloat(v.count)}\n")
                lines.append(f"{f.name}_sum{{{labels}}} {_gofloat(v.total)}\n")
            else:
                suffix = "_total" if f.kind == "counter" else ""
                lines.append(f"{f.name}{suffix}{{{','.join(parts)}}} {_gofloat(v)}\n")
    return out
