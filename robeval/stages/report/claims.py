"""The report's claims: each claim of the paper is one ``Claim`` record in CLAIMS, whose
``judge`` reads the runs and returns evidence lines and a verdict.

Verdicts: a claimed gain is "supported" only when its interval lies above 0, "contradicted" when
below 0, else "inconclusive"; a claim that something is "not worse" is "consistent" when the
interval contains 0 (which shows no harm was detected, not that there is none) and "not supported"
when it lies below 0. One seed gives a sign, never a verdict. Runs are matched on their config
fields (head, logits, S, init, learn_scale), never on variant names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from robeval.analysis.metrics import columns, scalar
from robeval.analysis.stats import (
    MIN_SEEDS_FOR_VERDICT,
    SEEDS_NEEDED_MAX,
    paired_differences,
    seeds_needed,
    t_interval,
)
from robeval.core.registry import Registry
from robeval.models.kinds import logits_label
from robeval.stages.report.format import interval_text

RANDOM_INITS = ("sphere", "authors")  # the paper's random class vectors
PAPER_SPEARMAN = (0.61, 0.87)


@dataclass(frozen=True)
class ClaimInputs:
    records: list[dict]  # one per run (aggregate.collect, with "analysis")
    paired: list[dict]  # fixed - learned rows (aggregate.paired_rows)
    geo_sum: list[dict]  # geometry per variant over seeds (geometry_summary)


class Evidence(list):
    """What a judge found: the full sentences (the list itself) and, for the compact claims
    table on the first screen, a short form of each (``short``: the number and what it compares);
    ``needs``: for each interval that spans 0, how many seeds its observed effect would need."""

    def __init__(self) -> None:
        super().__init__()
        self.short: list[str] = []
        self.needs: list[str] = []

    def add(self, line: str, short: str | None = None, interval: dict | None = None,
            what: str = "", unit: str = "pp", scale: float = 100.0) -> None:
        """``interval``: the one the line judges; when it spans 0, the line says how many seeds
        its observed effect would need, and so does ``needs``."""
        need = seeds_note(interval, unit, scale) if interval else None
        self.append(line + (f"; {need}" if need else ""))
        if short:
            self.short.append(short)
        if need:
            self.needs.append(f"{what}: {need}")


def seeds_note(d: dict, unit: str = "pp", scale: float = 100.0) -> str | None:
    """'observed +7.73 pp (sd 6.68 pp over 3 seeds) would need about 6 seeds ...' for an interval
    that spans 0; None otherwise (no interval, or one that excludes 0). The estimate is
    analysis/stats.py ``seeds_needed``: the n at which the 95% t-interval around the observed mean,
    with the observed sd, would just exclude 0."""
    if d.get("ci_low") is None or not d["ci_low"] <= 0 <= d["ci_high"]:
        return None
    n = seeds_needed(d["mean"], d["std"])
    u = f" {unit}" if unit else ""
    if n is None:
        need = (": no effect to detect" if not d["mean"]
                else f" would need more than {SEEDS_NEEDED_MAX:,} seeds for its 95% interval to exclude 0")
    else:
        need = f" would need about {n} seeds for its 95% interval to exclude 0"
    return (f"observed {scale * d['mean']:+.2f}{u} (sd {scale * d['std']:.2f}{u} over "
            f"{d['n']} seeds){need}")


@dataclass(frozen=True)
class Claim:
    name: str
    title: str  # the claim in a few words, for the claims table
    claim: str
    paper: str
    judge: Callable[[ClaimInputs], tuple[Evidence, str]]  # -> (evidence, verdict)


def head_is(cfg: dict, head: str | None = None, logits: str | None = None, scale=None,
            init: str | None = None) -> bool:
    """The paper's head variants by config: head mode, logits kind, S (cosine), the paper's
    random class vectors (sphere or authors' init, or exactly ``init``) and a fixed S."""
    return ((head is None or cfg["head"] == head) and (logits is None or cfg["logits"] == logits)
            and (scale is None or cfg["scale"] == scale) and not cfg["learn_scale"] and not cfg.get("margin")
            and (cfg["init"] == init if init else cfg["init"] in RANDOM_INITS))


def geometry_rows(records: list[dict]) -> list[dict]:
    """One row per analysed run: the primary condition's scalar geometry (every metric column)."""
    out = []
    for r in records:
        a = r.get("analysis")
        if not a:
            continue
        p = a["conditions"][a["primary_condition"]]
        row = {"run": r["run"], "variant": r["variant"], "seed": r["seed"],
               "dataset": r["config"]["dataset"], "arch": r["config"]["arch"],
               "condition": a["primary_condition"], "num_classes": a["head"]["num_classes"],
               "dim": a["head"]["dim"],
               "final_scale": a["head"]["scale"] if a["config"].get("scale") is not None else None}
        row.update({c.key: scalar(p, m, c) for m, c in columns()})
        out.append(row)
    return out


def geometry_summary(geo: list[dict], records: list[dict]) -> list[dict]:
    """Per (dataset, arch, variant): every geometry field as a t-interval over seeds, with the
    variant's config (claims match on it)."""
    configs = {r["run"]: r["config"] for r in records}
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for g in geo:
        groups[g["dataset"], g["arch"], g["variant"]].append(g)
    out = []
    for (ds, arch, variant), members in groups.items():
        row = {"dataset": ds, "arch": arch, "variant": variant, "n": len(members),
               "num_classes": members[0]["num_classes"], "dim": members[0]["dim"],
               "config": configs.get(members[0]["run"], {})}
        for k in (*(c.key for _, c in columns()), "final_scale"):
            row[k] = t_interval([m[k] for m in members if m[k] is not None])
        out.append(row)
    return out


def _too_few(d: dict) -> str | None:
    """One seed gives a sign; two give an interval too wide to be a finding."""
    if d.get("ci_low") is None:
        return "one seed: sign only, not established"
    if d["n"] < MIN_SEEDS_FOR_VERDICT:
        return f"n = {d['n']} seeds: too few for a verdict (needs {MIN_SEEDS_FOR_VERDICT})"
    return None


def gain_verdict(d: dict) -> str:
    if not d or d.get("mean") is None:
        return "not measured"
    if few := _too_few(d):
        return few
    if d["ci_low"] > 0:
        return "supported"
    if d["ci_high"] < 0:
        return "contradicted"
    return "inconclusive (interval spans 0)"


def kept_verdict(d: dict) -> str:
    if not d or d.get("mean") is None:
        return "not measured"
    if few := _too_few(d):
        return few
    if d["ci_high"] < 0:
        return "not supported: fixed is worse"
    if d["ci_low"] > 0:
        return "supported: fixed is better"
    return "consistent: no significant difference"


def pp(d: dict) -> str:
    """A paired difference in percentage points (with the Wilcoxon p when there is one)."""
    text = interval_text(d, unit="pp", signed=True)
    return text + (f", Wilcoxon p = {d['wilcoxon_p']:.3f}" if d.get("wilcoxon_p") is not None else "")


def plain(d: dict, digits: int = 3, signed: bool = False, n: bool = True) -> str:
    return interval_text(d, scale=1.0, number_format=f".{digits}f", signed=signed, n=n)


def _pairs(paired: list[dict], condition: str, logits: str, scale=None) -> list[dict]:
    return [p for p in paired if p["condition"] == condition and p["logits"] == logits
            and p["init"] in RANDOM_INITS and not p["learn_scale"]
            and (scale is None or p["scale"] == p.get("partner_scale", p["scale"]) == scale)]


def short_pp(d: dict) -> str:
    return interval_text(d, unit="pp", signed=True, n=False)


def _where(record: dict, many: bool) -> str:
    """The dataset/arch prefix of a short line, only when the runs span several."""
    return f"{record['dataset']}/{record['arch']} " if many else ""


def _many(items: list[dict]) -> bool:
    return len({(i["dataset"], i["arch"]) for i in items}) > 1


def _kind(p: dict) -> str:
    """A paired row's logits kind in words, its record's label: 'dot', 'cosine S = 16' (with the
    learned head's S when tuning chose another, and the init when not random)."""
    other = p.get("partner_scale", p["scale"])
    kind = logits_label(p["logits"], p["scale"]) + (
        f" vs {other:g}" if p["scale"] is not None and other is not None and other != p["scale"] else "")
    return kind + (f" {p['init']}" if p["init"] not in RANDOM_INITS else "")


def _pair_lines(pairs: list[dict], judge) -> tuple[Evidence, list[str]]:
    ev, verdicts = Evidence(), []
    many = _many(pairs)
    for p in pairs:
        v = judge(p)
        verdicts.append(v)
        ev.add(f"{p['dataset']}/{p['arch']}: {p['fixed']} − {p['learned']} on {p['condition']}: {pp(p)} → {v}",
               f"{_where(p, many)}{_kind(p)}, fixed − learned: {short_pp(p)}", p,
               f"{_where(p, many)}{p['fixed']} − {p['learned']} on {p['condition']}")
    return ev, verdicts


def _overall(verdicts: list[str]) -> str:
    if not verdicts:
        return "not measured by these runs"
    return verdicts[0] if len(set(verdicts)) == 1 else "mixed: " + "; ".join(dict.fromkeys(verdicts))


def _seed_acc(records: list[dict], ds: str, arch: str, cond: str = "clean", **match) -> dict:
    return {r["seed"]: r["accuracy"][cond] for r in records if head_is(r["config"], **match)
            and r["config"]["dataset"] == ds and r["config"]["arch"] == arch and cond in r["accuracy"]}


def dot_gain(inputs: ClaimInputs) -> tuple[Evidence, str]:
    ev, v = _pair_lines(_pairs(inputs.paired, "clean", "dot"), gain_verdict)
    return ev, _overall(v)


def cosine_s1(inputs: ClaimInputs) -> tuple[Evidence, str]:
    lines, v = _pair_lines(_pairs(inputs.paired, "clean", "cosine", 1.0), gain_verdict)
    many = _many(inputs.geo_sum)
    for g in inputs.geo_sum:
        if head_is(g["config"], logits="cosine", scale=1.0, init="sphere"):
            acc, ch = g["accuracy"], 1 / g["num_classes"]
            near = acc["mean"] is not None and acc["mean"] < 1.2 * ch
            lines.add(f"{g['dataset']}/{g['arch']} {g['variant']}: clean accuracy "
                      f"{interval_text(acc, unit='%')} vs chance {100 * ch:.1f}%"
                      f"{' (at chance: did not learn)' if near else ''}",
                      f"{_where(g, many)}{g['variant']} at chance" if near else None)
    for ds, arch, init in sorted({(r["config"]["dataset"], r["config"]["arch"], r["config"]["init"])
                                  for r in inputs.records if r["config"]["init"] in RANDOM_INITS}):
        a = _seed_acc(inputs.records, ds, arch, head="fixed", logits="cosine", scale=1.0, init=init)
        b = _seed_acc(inputs.records, ds, arch, head="learned", logits="dot", init=init)
        if a and b:
            d = paired_differences(a, b)
            lines.add(f"{ds}/{arch}: fixed-cosine-S1 − learned-dot on clean: {pp(d)} "
                      f"(can fixed cosine S = 1 beat dot? {gain_verdict(d)})",
                      f"fixed-cosine-S1 − learned-dot: {short_pp(d)}", d,
                      f"{ds}/{arch}: fixed-cosine-S1 − learned-dot on clean")
    return lines, _overall(v)


def compact(inputs: ClaimInputs) -> tuple[Evidence, str]:
    lines, v = Evidence(), []
    many = _many(inputs.geo_sum)
    for g in inputs.geo_sum:
        if not head_is(g["config"], head="fixed", logits="cosine", scale=1.0):
            continue
        comp, ceil = g["compactness_pred"], g["ceiling_pred"]
        if comp["mean"] is None:
            continue
        s = f"{g['dataset']}/{g['arch']} {g['variant']}: mean cos(h, w_pred) {plain(comp)}"
        short = f"{_where(g, many)}{g['variant']}: cos(h, w_pred) {plain(comp, 2, n=False)}"
        if ceil["mean"] is not None:
            short += f", ReLU ceiling {ceil['mean']:.2f}"
            s += (f"; ReLU ceiling ||w+||/||w|| = {ceil['mean']:.3f} (the encoder ends with ReLU, so 0.95 "
                  f"is {'unreachable' if ceil['mean'] < 0.95 else 'reachable'}); "
                  f"measured = {100 * comp['mean'] / ceil['mean']:.0f}% of the ceiling")
        if comp["mean"] >= 0.9:
            v.append("supported")
        elif ceil["mean"] is not None and ceil["mean"] < 0.95:
            v.append("not reachable with this encoder (ceiling below 0.95)")
        else:
            v.append("not supported")
        lines.add(s, short)
    learned_cos = sorted((g for g in inputs.geo_sum if head_is(g["config"], head="learned", logits="cosine")),
                         key=lambda g: g["variant"])
    for g in learned_cos:
        if g["compactness_pred"]["mean"] is not None:
            lines.add(f"{g['dataset']}/{g['arch']} {g['variant']}: mean cos(h, w_pred) "
                      f"{plain(g['compactness_pred'])} (the paper: it falls as S rises)")
    return lines, _overall(v)


def spearman(inputs: ClaimInputs) -> tuple[Evidence, str]:
    lines, v = Evidence(), []
    many = _many(inputs.geo_sum)
    for g in inputs.geo_sum:
        rho = g["spearman_rho"]
        if rho["mean"] is None:
            continue
        lo, hi = PAPER_SPEARMAN
        inside = lo <= rho["mean"] <= hi
        cfg = g["config"]
        judged = (head_is(cfg, head="learned", logits="dot", init="sphere")
                  or head_is(cfg, head="learned", logits="cosine", scale=1.0, init="sphere"))
        lines.add(f"{g['dataset']}/{g['arch']} {g['variant']}: Spearman ρ {plain(rho, 2, True)}"
                  f"{' (within the paper range)' if inside else ''}",
                  f"{_where(g, many)}{g['variant']} ρ {plain(rho, 2, True, n=False)}"
                  if cfg.get("head") == "learned" else None,
                  rho if judged else None, f"{_where(g, many)}{g['variant']} Spearman ρ",
                  unit="", scale=1.0)
        if judged:
            v.append(gain_verdict(rho).replace("contradicted", "contradicted (negative correlation)"))
    return lines, _overall(v)


def kept(cond: str, what: str) -> Callable[[ClaimInputs], tuple[Evidence, str]]:
    def judge(inputs: ClaimInputs) -> tuple[Evidence, str]:
        pairs = [p for logits in ("dot", "cosine") for p in _pairs(inputs.paired, cond, logits)]
        lines, v = _pair_lines(pairs, kept_verdict)
        if lines:
            return lines, _overall(v)
        if any(cond in r["accuracy"] for r in inputs.records):
            return lines, "not measured: no fixed/learned pair of runs with these conditions"
        return lines, f"not measured: no {cond.split()[0].rstrip('s')} conditions were evaluated"

    return judge


def random_vectors(inputs: ClaimInputs) -> tuple[Evidence, str]:
    lines = Evidence()
    many = _many(inputs.geo_sum)
    for g in inputs.geo_sum:
        if g["config"].get("head") == "fixed" and g["class_vector_mean_cos"]["mean"] is not None:
            c, d = g["num_classes"], g["dim"]
            m = g["class_vector_mean_cos"]["mean"]
            lines.add(f"{g['dataset']}/{g['arch']} {g['variant']}: mean pairwise cos(w_i, w_j) "
                      f"{m:+.3f} (simplex ETF: {-1 / (c - 1):+.3f}; "
                      f"random in d = {d}: 0 ± {d ** -0.5:.3f}); ETF distance of W "
                      f"{plain(g['nc2_etf_weights'])}",
                      f"{_where(g, many)}{g['variant']}: mean cos {m:+.2f} (ETF {-1 / (c - 1):+.2f})")
    return lines, "measured" if lines else "not measured"


def extra_heads(inputs: ClaimInputs) -> tuple[Evidence, str]:
    """Clean accuracy of each extra fixed head minus the fixed random head with the same logits
    and S, paired over seeds."""
    lines, verdicts = Evidence(), []
    extra = {}
    for r in inputs.records:
        c = r["config"]
        if c["head"] == "fixed" and c["init"] not in RANDOM_INITS:
            extra.setdefault((c["dataset"], c["arch"], r["variant"]), r)
    for (ds, arch, variant), r in extra.items():
        c = r["config"]
        base = next((o for o in inputs.records if head_is(o["config"], head="fixed")
                     and all(o["config"][k] == c[k] for k in ("dataset", "arch", "logits", "scale"))), None)
        if base is None or "clean" not in r["accuracy"]:
            continue
        mine = {o["seed"]: o["accuracy"]["clean"] for o in inputs.records
                if o["variant"] == variant and o["config"]["dataset"] == ds
                and o["config"]["arch"] == arch and "clean" in o["accuracy"]}
        d = paired_differences(mine, _seed_acc(inputs.records, ds, arch, head="fixed", logits=c["logits"],
                                               scale=c["scale"], init=base["config"]["init"]))
        g = gain_verdict(d).replace("supported", "better").replace("contradicted", "worse")
        verdicts.append(g)
        lines.add(f"{ds}/{arch}: {variant} − {base['variant']} on clean: {pp(d)} → {g}",
                  f"{variant} − {base['variant']}: {short_pp(d)}", d,
                  f"{ds}/{arch}: {variant} − {base['variant']} on clean")
    return lines, (_overall(verdicts) if lines else "not measured (robeval reproduce --heads paper,extra)")


CLAIMS: Registry[Claim] = Registry("claim")
CLAIMS.add(Claim("dot-gain", "fixed vectors raise dot-model accuracy",
           "Fixing random class vectors raises the accuracy of dot-product models",
           "up to +4 pp absolute (clean test accuracy)", dot_gain))
CLAIMS.add(Claim("cosine-s1", "at S = 1 only fixed cosine heads train well",
           "With S = 1, learned cosine models fail to converge while fixed ones reach "
           "high accuracy and can beat dot-product models",
           "up to +53 pp for fixed over learned cosine at S = 1", cosine_s1))
CLAIMS.add(Claim("compactness", "fixed cosine S = 1 features are compact (≈ 0.95)",
           "Fixed cosine models at S = 1 are compact: mean cosine between image features "
           "and their predicted class vectors ≈ 0.95",
           "≈ 0.95 in all experiments (Table 4 setting)", compact))
CLAIMS.add(Claim("spearman", "confused classes get close learned vectors",
           "Learned class vectors of classes that are often confused are close in angle "
           "(Spearman correlation between cos(w_i, w_j) and confusions i→j)",
           "0.82/0.77/0.61/0.79 (dot) and 0.85/0.87/0.81/0.83 (cosine S = 1)", spearman))
CLAIMS.add(Claim("robustness", "fixing keeps robustness to corruptions",
           "Fixing the class vectors keeps robustness to corruptions",
           "not worse with fixed vectors (3 runs averaged)",
           kept("corruptions (mean)", "robustness to corruptions")))
CLAIMS.add(Claim("generalisation", "fixing keeps generalisation to new data",
           "Fixing the class vectors keeps generalisation to new data",
           "not worse with fixed vectors (3 runs averaged)",
           kept("generalisation (mean)", "generalisation to new data")))
CLAIMS.add(Claim("random-vectors", "(context) random vectors are near-orthogonal, not an ETF",
           "(context) Random class vectors in high d are nearly orthogonal, not a "
           "simplex ETF (Vershynin 2018, concentration on the sphere; Papyan et al. 2020)",
           "not discussed in the paper", random_vectors))
CLAIMS.add(Claim("extra-heads", "(context) ETF and Hadamard fixed heads vs random",
           "(context) Fixed simplex-ETF and fixed Hadamard (learned scale) heads "
           "against the paper's fixed random vectors",
           "not compared in the paper (Hoffer et al. 2018; Papyan et al. 2020, neural collapse)",
           extra_heads))


def not_at_plateau(records: list[dict]) -> list[str]:
    """Names of the runs whose validation accuracy had not settled (train summary's plateau)."""
    return [f"{r['variant']} seed {r['seed']}" for r in records if r.get("at_plateau") is False]


def build_claims(records: list[dict], paired: list[dict], geo_sum: list[dict]) -> list[dict]:
    """Every claim in CLAIMS, judged on these runs; a verdict names the runs it rests on that
    had not reached their plateau."""
    x = ClaimInputs(records, paired, geo_sum)
    unsettled = not_at_plateau(records)
    out = []
    for c in CLAIMS.records():
        ev, verdict = c.judge(x)
        caveat = f"{len(unsettled)} of {len(records)} runs not at their plateau" if unsettled and ev else ""
        out.append({"name": c.name, "title": c.title, "claim": c.claim, "paper": c.paper,
                    "evidence": list(ev), "shows": ev.short, "seeds_needed": ev.needs,
                    "verdict": verdict + (f" ({caveat})" if caveat else ""), "verdict_only": verdict,
                    "caveat": caveat, "not_at_plateau": unsettled if ev else []})
    return out
