"""A compact gazetteer of first names and surnames, for finding names that no phrase introduces.

`sdp_lib.protect.redact` finds a name after a phrase that introduces it ("my name is", "Dr", "my
daughter"). Case studies and survey free text also name people with no such phrase ("Fatima from the
centre helped me book", "Amina and her sister came"); for those it looks capitalised words up in this
gazetteer.

Source. The gazetteer is derived, not written by hand: the most common first names (each gender) and
surnames of each country of the communities the partners serve (`COMMUNITY_COUNTRIES`), as ranked by
the names-dataset package (`NameDataset.get_top_names`, data from 2021), each with its frequency as an
ordinary English word (wordfreq's Zipf value: log10 of occurrences per billion words; "the" is 7.7,
"will" 6.5, "mark" 5.1, "fatima" 3.1, "hodan" 1.1). The rules in `redact` use that frequency to tell a
name that is also a common word ("Grace", "Hope", "Mark") from one that is not ("Hodan").

Why a shipped file. names-dataset loads its whole data set at `NameDataset()`: about 1.9 GiB of memory
and 15-35 s, more than the suite's 1.5 GiB target for a whole run, and every CI run starts from a fresh
clone, so a gazetteer derived "at first use" and cached would be derived again on every CI run. The
derived list is therefore built once (`python -m sdp_lib.protect.names build`, which loads first
names and surnames one after the other, about 1.1 GiB at most) and shipped as
`sdp_lib/protect/data/name_gazetteer.tsv`; at run time only that file is read (lazily, the first time
a text with a capitalised word is redacted): about 0.1 s and 18 MiB, and neither names-dataset nor
wordfreq is needed. `python -m sdp_lib.protect.names check` rebuilds it and compares (the build is
deterministic: same package versions, same file).

File format: comment lines starting with "#" (source, versions, countries, sizes, a SHA-256 of the
entries), then one entry per line: ``name<TAB>zipf`` in code-point order of the name, the name in the
form names-dataset keys it (`str.title()` of the name with apostrophes removed: "Osullivan",
"Al-Hassan", "João").
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import re
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Mapping

#: The gazetteer shipped with the package.
GAZETTEER_PATH = Path(__file__).resolve().parent / "data" / "name_gazetteer.tsv"

#: Versions the shipped gazetteer was built with (a rebuild with other versions gives another file).
NAMES_DATASET_VERSION = "3.3.1"
WORDFREQ_VERSION = "3.1.1"
PYCOUNTRY_VERSION = "26.2.16"

#: Countries (ISO 3166 alpha-2, as names-dataset has them) whose common names the gazetteer holds, by the
#: community they stand for. names-dataset has no data for Somalia, Eritrea, Pakistan, Trinidad and
#: Tobago or Barbados: Somali names come from Djibouti (mostly Somali) and the diaspora in GB and CA,
#: Tigrinya names from Ethiopia and Sudan, Pakistani names from India, Afghanistan and the Gulf states.
COMMUNITY_COUNTRIES: dict[str, tuple[str, ...]] = {
    "English, Scottish and Welsh": ("GB",),
    "Irish": ("IE",),
    "North American (English names)": ("US", "CA"),
    "Caribbean": ("JM", "HT", "PR"),
    "Arabic-speaking": ("MA", "DZ", "TN", "LY", "EG", "SD", "SA", "YE", "IQ", "SY", "LB", "JO", "PS", "KW",
                        "AE", "QA", "OM", "BH"),
    "Somali": ("DJ",),
    "Eritrean and Ethiopian": ("ET",),
    "Bengali and South Asian": ("BD", "IN"),
    "Afghan and Iranian": ("AF", "IR"),
    "Turkish and Kurdish": ("TR",),
    "Portuguese-speaking": ("PT", "BR", "AO"),
    "Spanish-speaking and Latin American": ("ES", "CO", "EC", "PE", "BO", "MX", "CL", "AR", "UY", "GT",
                                            "HN", "SV", "CR", "PA"),
    "Polish and Eastern European": ("PL", "LT", "BG", "CZ", "RU", "AL", "RS", "HR"),
    "West African": ("NG", "GH"),
    "Filipino": ("PH",),
    "Chinese (Hong Kong, romanised)": ("HK",),
    "French, Italian, Greek and Cypriot": ("FR", "IT", "GR", "CY"),
}
COUNTRIES: tuple[str, ...] = tuple(c for cs in COMMUNITY_COUNTRIES.values() for c in cs)

#: How many of each country's most common first names (of each gender) and surnames are taken.
TOP_FIRST = 1000
TOP_LAST = 1000
#: Deeper lists where the respondents live and where diaspora names rank lower: the names of communities
#: with no country of their own in names-dataset (Somali: "Sagal", "Deeqa", "Warsame"; Eritrean) rank
#: 1,000-3,000 in Great Britain and Canada.
TOP_DEEPER: dict[str, int] = {"GB": 3000, "CA": 3000}
#: Names shorter than this (letters) are left out: two-letter entries are mostly initials or words
#: ("Al", "Le", "Ma").
MIN_LETTERS = 3
#: Names at least this common as English words are left out: they are words first ("will", "may",
#: "love", "white": Zipf 5.5 is about 300 per million words).
MAX_ZIPF = 5.5

_ENTRY_RE = re.compile(r"[^\W\d_]+(?:[\-][^\W\d_]+)*")
_LATIN_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿāăąēĕėęěīĭįıōŏőœūŭůűų")


def _latin_without_vowel(name: str) -> bool:
    """A name in Latin letters with no vowel ("Mrt", "Hlm"): noise in names-dataset, not a name."""
    letters = [ch for ch in name.lower() if ch.isalpha()]
    return all(ch.isascii() or "LATIN" in unicodedata.name(ch, "") for ch in letters) and not (
        set(letters) & _LATIN_VOWELS)


def name_key(word: str) -> str:
    """The gazetteer key of a word: apostrophes removed, then `str.title()` ("O'Sullivan" -> "Osullivan")."""
    return re.sub(r"['\u2019]", "", word).title()


# --------------------------------------------------------------------------------------------------
# Loading (run time)


class Gazetteer:
    """Names and their Zipf frequency as English words; `zipf(word)` is None for a word not in it."""

    def __init__(self, entries: Mapping[str, str | float], meta: Mapping[str, str]):
        self._zipf = dict(entries)  # values kept as read (text) and converted when asked for
        self.meta = dict(meta)

    def __len__(self) -> int:
        return len(self._zipf)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and name_key(word) in self._zipf

    def zipf(self, word: str) -> float | None:
        z = self._zipf.get(name_key(word))
        return None if z is None else float(z)


_LOADED: dict[Path, Gazetteer] = {}


def load_gazetteer(path: Path | str | None = None) -> Gazetteer:
    """The gazetteer in `path` (default: the shipped one), read once per process and kept."""
    p = Path(path) if path is not None else GAZETTEER_PATH
    g = _LOADED.get(p)
    if g is None:
        g = _read(p)
        _LOADED[p] = g
    return g


def _read(path: Path) -> Gazetteer:
    if not path.is_file():
        raise FileNotFoundError(
            f"name gazetteer {path} is missing: rebuild it with `python -m sdp_lib.protect.names build` "
            f"(needs names-dataset=={NAMES_DATASET_VERSION}, wordfreq=={WORDFREQ_VERSION} and "
            f"pycountry=={PYCOUNTRY_VERSION})"
        )
    lines = path.read_text(encoding="utf-8").split("\n")
    meta: dict[str, str] = {}
    for line in lines:
        if not line.startswith("#"):
            break
        k, _, v = line[1:].strip().partition(":")
        meta[k.strip()] = v.strip()
    entries = dict(line.split("\t", 1) for line in lines[len(meta):] if line)
    return Gazetteer(entries, meta)


# --------------------------------------------------------------------------------------------------
# Building (once, by a developer; needs names-dataset and wordfreq)


#: Countries whose common first names may also be country names ("Jordan", "Georgia", "Chad").
ENGLISH_SPEAKING = ("GB", "IE", "US")


def _top_names(use_first_names: bool) -> tuple[set[str], set[str]]:
    """(names of all COUNTRIES, names of ENGLISH_SPEAKING), first names or surnames."""
    from names_dataset import NameDataset  # noqa: PLC0415 - optional, build time only

    nd = NameDataset(load_first_names=use_first_names, load_last_names=not use_first_names)
    top = nd.get_top_names(n=max(TOP_FIRST, TOP_LAST, *TOP_DEEPER.values()), use_first_names=use_first_names)
    names: set[str] = set()
    english: set[str] = set()
    for country in COUNTRIES:
        by_country = top.get(country)
        if not by_country:
            raise ValueError(f"names-dataset has no {'first' if use_first_names else 'last'} names for {country}")
        these: set[str] = set()
        if use_first_names:
            for gender in sorted(by_country):
                these.update(by_country[gender][:TOP_DEEPER.get(country, TOP_FIRST)])
        else:
            these.update(by_country[:TOP_DEEPER.get(country, TOP_LAST)])
        names |= these
        if country in ENGLISH_SPEAKING:
            english |= these
    del nd, top
    gc.collect()
    return names, english


def _country_names() -> set[str]:
    """Single-word country names (pycountry's name, common and official names): "Eritrea", "Portugal"."""
    import pycountry  # noqa: PLC0415 - a dependency of names-dataset, build time only

    out: set[str] = set()
    for c in pycountry.countries:
        for attr in ("name", "common_name", "official_name"):
            v = getattr(c, attr, None)
            if v and _ENTRY_RE.fullmatch(v):
                out.add(name_key(v))
    return out


def build_entries() -> dict[str, float]:
    """{name: Zipf frequency as an English word} derived from names-dataset and wordfreq."""
    import wordfreq  # noqa: PLC0415 - optional, build time only
    from importlib.metadata import version  # noqa: PLC0415

    for pkg, want in (("names-dataset", NAMES_DATASET_VERSION), ("wordfreq", WORDFREQ_VERSION),
                      ("pycountry", PYCOUNTRY_VERSION)):
        got = version(pkg)
        if got != want:
            print(f"warning: {pkg} {got} installed, the shipped gazetteer was built with {want}", file=sys.stderr)
    first, first_english = _top_names(True)  # one data set in memory at a time
    last, _ = _top_names(False)
    countries = _country_names() - {name_key(n) for n in first_english}
    entries: dict[str, float] = {}
    for name in first | last:
        if not _ENTRY_RE.fullmatch(name):
            continue  # several words ("John Paul"), digits, symbols, other scripts' marks
        if sum(ch.isalpha() for ch in name) < MIN_LETTERS or _latin_without_vowel(name):
            continue
        key = name_key(name)
        if key in countries or not key[0].isupper():
            continue  # a country, or a script without capitals (never capitalised in text, never matched)
        # a hyphenated name is looked up whole, without its hyphens ("Al-Hassan" as "alhassan")
        z = round(wordfreq.zipf_frequency(name.lower().replace("-", ""), "en"), 2)
        if z >= MAX_ZIPF:
            continue
        entries[key] = z
    return entries


def _body(entries: Mapping[str, float]) -> str:
    return "".join(f"{n}\t{entries[n]:.2f}\n" for n in sorted(entries))


def render(entries: Mapping[str, float]) -> str:
    body = _body(entries)
    head = [
        "source: names-dataset " + NAMES_DATASET_VERSION + " NameDataset.get_top_names, "
        f"top {TOP_FIRST} first names of each gender and top {TOP_LAST} surnames of each country ("
        + ", ".join(f"{c} {n}" for c, n in TOP_DEEPER.items()) + ")",
        "zipf: wordfreq " + WORDFREQ_VERSION + " zipf_frequency(name.lower(), 'en'), 2 decimals",
        "countries: " + " ".join(COUNTRIES),
        f"rules: letters >= {MIN_LETTERS}; zipf < {MAX_ZIPF}; single words (letters, inner hyphens); "
        "key = str.title() without apostrophes; Latin-script names without a vowel and names in scripts without capitals left out; single-word country names (pycountry " + PYCOUNTRY_VERSION
        + ") left out unless a top first name in " + " ".join(ENGLISH_SPEAKING),
        f"entries: {len(entries)}",
        "sha256: " + hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "built by: python -m sdp_lib.protect.names build",
    ]
    return "".join(f"# {h}\n" for h in head) + body


def body_sha256(path: Path | str | None = None) -> str:
    """SHA-256 of the entry lines of a gazetteer file (to compare with its `sha256` header)."""
    p = Path(path) if path is not None else GAZETTEER_PATH
    lines = [ln for ln in p.read_text(encoding="utf-8").splitlines(keepends=True) if not ln.startswith("#")]
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest()


def build(out: Path | str = GAZETTEER_PATH) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = render(build_entries())
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    tmp.replace(out)
    _LOADED.pop(out.resolve(), None)
    _LOADED.pop(out, None)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sdp_lib.protect.names", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="derive the gazetteer from names-dataset and wordfreq and write it")
    b.add_argument("--out", default=str(GAZETTEER_PATH))
    sub.add_parser("check", help="rebuild into a temporary file and compare with the shipped gazetteer")
    args = ap.parse_args(argv)
    if args.cmd == "build":
        print(build(args.out))
        return 0
    with tempfile.TemporaryDirectory() as d:
        fresh = build(Path(d) / "name_gazetteer.tsv")
        same = fresh.read_bytes() == GAZETTEER_PATH.read_bytes()
    print("same as the shipped gazetteer" if same else "DIFFERENT from the shipped gazetteer")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
