"""Redaction of personal details in survey free text.

`redact` replaces each personal detail with a typed placeholder:

=================  ============================================================================
``[EMAIL]``        anything shaped like an address: ``local@domain.tld``
``[PHONE]``        UK numbers (07xxx xxxxxx, 020 xxxx xxxx, (020) ..., 01xxx/02x landlines,
                   03/08 numbers; spaces, dashes or dots), +44 / 0044 forms with or without (0),
                   and other international numbers written with ``+`` or ``00`` (8-15 digits)
``[NHS_NUMBER]``   10 digits (plain, or 3-3-4 with spaces or dashes) with a valid mod-11 check
                   digit. A 10-digit number failing the check is redacted as ``[PHONE]`` if it is
                   shaped like a UK phone number (starts with 0), and otherwise left as it is.
``[POSTCODE]``     full UK postcodes in any case, with or without the space (W10 6TH, sw1a1aa)
``[DATE_OF_BIRTH]`` any full date (12/03/1961, 12-3-61, 1961-03-12, 3rd March 1961, 12 Mar 1961,
                   March 3rd, 1961), and a month-and-year or a year after "born", "DOB",
                   "date of birth" ("born in 1961"). A full date cannot be told apart from a
                   date of birth, so every full date is redacted; a day and month without a year
                   ("on 3rd May") is kept.
``[NAME]``         a name after a phrase that introduces one: "my name is", "name:", "call me",
                   "I am"/"I'm", "this is", "ask(ed) for", "speak/spoke/talk(ed) to/with",
                   "called"/"named", "thank you"/"thanks", "regards", "dear", "my <relative or
                   friend>" (daughter, son, husband, ...), and after a title (Mr, Mrs, Ms, Miss, Mx,
                   Dr, Prof, Doctor), which is kept ("Dr [NAME]").
=================  ============================================================================

Names are found only after those phrases. After most phrases the word must be capitalised
("I am Fatima" is redacted, "I am grateful" is not) and must not be a common English word,
nationality, religion, language, month or day ("I am Happy", "I am Somali" are kept). After
"my name is" and "name:" a lower-case name is redacted too. Names of any origin are handled
(letters of any script, apostrophes, hyphens: Siobhan, Nguyen, O'Brien, Al-Hassan, Zoë).

Not redacted: ages ("aged 50 to 74"), times ("at 10:30"), durations, counts, days and months
without a year, bare years, place names, and names that no phrase introduces.

Redaction is idempotent (placeholders are never matched again), and overlapping details are
merged into one placeholder so no part of a detail is left behind.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import pandas as pd

EMAIL = "EMAIL"
PHONE = "PHONE"
NHS_NUMBER = "NHS_NUMBER"
POSTCODE = "POSTCODE"
DATE_OF_BIRTH = "DATE_OF_BIRTH"
NAME = "NAME"
TYPES: tuple[str, ...] = (EMAIL, NHS_NUMBER, DATE_OF_BIRTH, PHONE, POSTCODE, NAME)
_PRIORITY = {t: i for i, t in enumerate(TYPES)}


# --------------------------------------------------------------------------------------------------
# NHS numbers


def nhs_number_is_valid(digits: str) -> bool:
    """True when `digits` (spaces and dashes ignored) is 10 digits with a valid mod-11 check digit.

    Weights 10..2 on the first nine digits; check = 11 - (sum mod 11); 11 means 0; 10 means the
    number is invalid.
    """
    if not isinstance(digits, str):
        return False
    d = re.sub(r"[\s-]", "", digits)
    if len(d) != 10 or not d.isascii() or not d.isdigit():
        return False
    total = sum(int(ch) * w for ch, w in zip(d[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(d[9])


# --------------------------------------------------------------------------------------------------
# Patterns

_EMAIL_RE = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+",
)
# 3-3-4 with one consistent separator (space or dash), or 10 plain digits.
_NHS_RE = re.compile(r"(?<!\d)(\d{3})([ \-]?)(\d{3})\2(\d{4})(?!\d)")

# Phone candidates: an optional + / 00 prefix, then digit groups, "(0)" or "(020)"-style groups,
# separated by at most a space, a dot or a dash (with spaces around it). The longest prefix of groups
# that has a valid number of digits is taken (see _valid_phone).
_GROUP = r"(?:\(\s?\d{1,5}\s?\)|\d+)"
_SEP = r"(?:[ \t]{0,2}[.\-\u2013]?[ \t]{0,2})"
_PHONE_RE = re.compile(rf"(?<![\d+])(?:\+[ \t]?|(?<!\w)00[ \t]?)?{_GROUP}(?:{_SEP}{_GROUP})*")
_GROUP_ITER = re.compile(_GROUP)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR4 = r"(?:1[89]\d\d|20\d\d)"
_YEAR = rf"(?:{_YEAR4}|['\u2019]\d\d)"
_NUMERIC_DATE = r"(?<![\d/.\-])(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d|[/.\-]\d)"
_ISO_DATE = r"(?<![\d/.\-])(?:1[89]|20)\d\d([/.\-])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])(?!\d|[/.\-]\d)"
_TEXT_DATE = (
    rf"(?<![\w]){_DAY}(?:\s+of)?[\s,]+{_MONTH}[\s,]+{_YEAR}(?!\w)"
    rf"|(?<![\w]){_MONTH}\s+{_DAY},?\s+{_YEAR}(?!\w)"
)
_NUMERIC_DATE_RE = re.compile(_NUMERIC_DATE)
_OTHER_DATE_RE = re.compile(rf"{_ISO_DATE}|{_TEXT_DATE}", re.IGNORECASE)
# After a birth phrase a month and year, or a year alone, is a date of birth as well.
_BIRTH_RE = re.compile(
    r"(?<!\w)(?:d\.?\s?o\.?\s?b\.?|date\s+of\s+birth|birth\s?date|birthday|born(?:\s+(?:on|in))?)"
    r"(?:\s*(?:is|was|[:\-=]))?\s*(?:the\s+)?"
    rf"(?P<date>{_MONTH}[\s,]+{_YEAR}|{_YEAR4})(?!\w|[/.\-]\d)",
    re.IGNORECASE,
)

_POSTCODE_RE = re.compile(
    r"(?<![A-Za-z])"
    r"(?:GIR[ \t]{0,2}0AA|"
    r"(?:[A-PR-UWYZ](?:\d{1,2}|[A-HK-Y]\d{1,2}|\d[A-HJKPSTUW]|[A-HK-Y]\d[ABEHMNPRV-Y]))"
    r"[ \t]{0,2}\d[ABD-HJLNP-UW-Z]{2})"
    r"(?![A-Za-z])",
    re.IGNORECASE,
)

# ---- names

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Doctor|Professor|Sister|Brother)"
_TITLE_RE = re.compile(rf"(?<![\w]){_TITLES}\.?[ \t]+")
_TITLE_WORDS = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "doctor", "professor"}

# (pattern, strength) - "strong": the next word is a name even in lower case.
_STRONG_TRIGGERS = [
    r"my\s+name\s+is",
    r"my\s+name['\u2019]s",
    r"my\s+names\s+is",
    r"(?:first|last|full|sur)?\s?name\s*[:=]",
]
_RELATIVES = (
    r"daughter|son|husband|wife|partner|mum|mother|mom|dad|father|sister|brother|friend|neighbour|neighbor"
    r"|carer|aunt|aunty|auntie|uncle|nephew|niece|grandson|granddaughter|grandmother|grandfather|nan|nana"
    r"|gran|grandma|grandad|grandpa|cousin|colleague|boyfriend|girlfriend|fiance|fiancee|child|baby"
    r"|sister-in-law|brother-in-law|mother-in-law|father-in-law|stepdaughter|stepson|doctor|gp|nurse"
    r"|key\s?worker|support\s+worker|social\s+worker|interpreter"
)
_WEAK_TRIGGERS = [
    r"i\s+am",
    r"i['\u2019]m",
    r"call\s+me",
    r"this\s+is",
    r"(?:ask|asked|asking)\s+for",
    r"(?:speak|spoke|speaking|talk|talked|talking)\s+(?:to|with)",
    r"called",
    r"named",
    r"thank\s+you(?:\s+to)?",
    r"thanks(?:\s+to)?",
    r"(?:kind\s+|best\s+|warm\s+)?regards,?",
    r"dear",
    r"signed,?",
    r"from\s+your\s+friend",
    rf"my\s+(?:{_RELATIVES})(?:['\u2019]s\s+name\s+is|\s+is\s+called|\s+called)?,?",
    r"(?:his|her|their)\s+name\s+is",
]
_TRIGGER_RE = re.compile(
    r"(?<![\w'\u2019])(?:(?P<strong>" + "|".join(_STRONG_TRIGGERS) + r")|(?P<weak>"
    + "|".join(_WEAK_TRIGGERS)
    + r"))[ \t]*(?:[:,\-\u2013][ \t]*)?",
    re.IGNORECASE,
)
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*")
_INITIAL_RE = re.compile(r"[^\W\d_]\.?(?=[ \t])")

# Words that, capitalised after a trigger, are not names: common words (sentence starts, emphasis),
# feelings, nationalities, ethnicities, religions, languages, months, days, places, organisations.
COMMON_WORDS = frozenset(
    """
    a an the and or but so if then than that this these those there here it its it's is are was were be been
    being am do does did doing done have has had having will would shall should can could may might must
    not no nor never yes ok okay okey yeah yep please thank thanks sorry hello hi hey dear well very really
    quite just only also too still even already always often sometimes usually now today tonight tomorrow
    yesterday soon later again ever about above after against all almost alone along among any anyone
    anything anyway around as at away back because before behind below between both by down during each
    either else enough every everyone everything few for from further how however in into inside instead
    less like little lot lots many more most much my myself near neither next none nothing of off on once
    one other others our out over own past per rather same several she he her him his hers they them their
    we us you your yours i me mine since some someone something somebody such sure through till to
    together toward towards under unless until up upon via what when where whether which while who whom
    whose why with within without yet
    happy sad glad grateful thankful pleased delighted relieved proud lucky blessed fine good great bad
    better best worse worst fit healthy unwell ill sick poorly tired exhausted busy free ready able unable
    aware unaware afraid scared frightened terrified worried anxious nervous concerned embarrassed ashamed
    shy uncomfortable comfortable confident unsure uncertain confused lost lonely alone upset angry cross
    annoyed frustrated disappointed surprised shocked interested keen willing reluctant hesitant desperate
    hopeful positive negative honest serious glad curious certain convinced determined motivated
    old older young younger elderly aged middle female male woman women man men lady ladies girl boy
    mother father mum dad wife husband widow widowed single married divorced separated pregnant disabled
    deaf blind diabetic vegan vegetarian retired unemployed employed working student carer volunteer
    patient new due late early overdue eligible registered invited booked screened tested diagnosed
    going trying looking waiting hoping feeling thinking writing calling asking saying telling coming
    leaving living staying getting having making taking doing using following attending
    told asked advised invited reminded encouraged supported helped given sent called named known
    glad happy more less much many few
    everybody nobody anybody somebody people person family friend friends community group team staff
    doctor doctors nurse nurses gp gps nhs clinic hospital surgery pharmacy council charity service
    screening cancer test tests breast cervical bowel smear mammogram kit letter leaflet leaflets session
    sessions appointment appointments results result information advice support help
    english british scottish welsh irish northern european african caribbean asian arab arabic black white
    mixed other somali somalian eritrean ethiopian sudanese nigerian ghanaian kenyan ugandan egyptian
    moroccan algerian libyan syrian iraqi iranian persian afghan kurdish turkish greek cypriot polish
    romanian bulgarian portuguese spanish italian french german russian ukrainian albanian lithuanian
    latvian indian pakistani bangladeshi bengali sri lankan tamil nepali chinese japanese korean
    vietnamese filipino thai malaysian indonesian american canadian brazilian colombian ecuadorian
    bolivian peruvian mexican jamaican trinidadian
    muslim christian catholic protestant jewish hindu sikh buddhist atheist orthodox
    urdu hindi punjabi gujarati farsi dari pashto tigrinya amharic swahili yoruba igbo twi cantonese
    mandarin tagalog
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday
    london westminster kensington chelsea paddington notting hill england uk britain
    age concern mosaic screen detect protect sir madam all team everyone groundswell advocacy vcck fawa
    boots superdrug asda tesco
    important necessary essential useful helpful unhelpful clear unclear easy difficult hard simple quick
    slow wonderful amazing excellent brilliant fantastic lovely nice kind friendly rude polite patient
    maybe perhaps probably definitely certainly actually honestly basically finally hopefully
    fasting praying ramadan eid christmas easter diwali passover vaisakhi lent
    breastfeeding menopausal postmenopausal housebound homeless
    """.split()
)


def _is_name_word(word: str, strong: bool) -> bool:
    if not word:
        return False
    low = word.lower().replace("\u2019", "'")
    if low in COMMON_WORDS or low in _TITLE_WORDS:
        return False
    if strong:
        return True
    if not word[0].isupper():
        return False
    # All capitals (NHS, GP, UK) are acronyms, not names, unless a single letter.
    letters = [ch for ch in word if ch.isalpha()]
    if len(letters) > 1 and all(ch.isupper() for ch in letters):
        return False
    return True


def _name_span(text: str, pos: int, strong: bool) -> tuple[int, int] | None:
    """The span of a name starting at pos (after a trigger, or after a title), or None."""
    spans: list[tuple[int, int]] = []
    i = pos
    # an optional title in between ("my name is Dr Khan"): skip it, the name follows
    mt = _TITLE_RE.match(text, i)
    if mt:
        i = mt.end()
        strong = False
    for k in range(4):
        # initials like "J." or "A" before a surname (only capital initials)
        mi = _INITIAL_RE.match(text, i)
        if mi and text[i].isupper() and k < 2:
            nxt = re.match(r"[ \t]+", text[mi.end():])
            after = mi.end() + (nxt.end() if nxt else 0)
            mw = _WORD_RE.match(text, after)
            if mw and _is_name_word(mw.group(0), False) and len(mw.group(0)) > 1:
                spans.append((i, mi.end()))
                i = after
                continue
        mw = _WORD_RE.match(text, i)
        if not mw:
            break
        word = mw.group(0)
        # the first word may be lower case after a strong trigger; later words must be capitalised
        # unless the first was lower case too ("my name is fatima ahmed")
        first_lower = bool(spans) and text[spans[0][0]].islower()
        ok = _is_name_word(word, strong and (not spans or first_lower))
        if not ok:
            break
        spans.append((i, mw.end()))
        gap = re.match(r"[ \t]+", text[mw.end():])
        if not gap:
            break
        i = mw.end() + gap.end()
    if not spans:
        return None
    start, end = spans[0][0], spans[-1][1]
    # keep a possessive outside the placeholder: "Dr Hickey's surgery" -> "Dr [NAME]'s surgery"
    if end - start > 2 and text[end - 2 : end].lower() in ("'s", "\u2019s"):
        end -= 2
    return start, end


# --------------------------------------------------------------------------------------------------
# Finding


def _phone_digits_valid(groups: list[str], intl: bool) -> bool:
    digits = ""
    for g in groups:
        inner = g.strip("() \t")
        if intl and g.startswith("(") and inner == "0":
            continue  # the "(0)" of +44 (0)20 ...
        digits += inner
    if intl:
        if digits.startswith("44"):
            return len(digits) in (11, 12) and digits[2] != "0"
        return 8 <= len(digits) <= 15
    return len(digits) in (10, 11) and digits[0] == "0" and digits[1] != "0"


def _find_phones(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    pos = 0
    while True:
        m = _PHONE_RE.search(text, pos)
        if not m:
            return found
        s = m.group(0)
        intl = s.startswith("+") or s.startswith("00")
        body_start = 0
        if intl:
            body_start = 1 if s.startswith("+") else 2
        groups = [(g.start() + m.start(), g.end() + m.start(), g.group(0)) for g in _GROUP_ITER.finditer(s, body_start)]
        best = None
        for k in range(len(groups), 0, -1):
            if _phone_digits_valid([g[2] for g in groups[:k]], intl):
                best = groups[k - 1][1]
                break
        if best is not None:
            found.append((m.start(), best))
            pos = best
        else:
            pos = m.start() + 1


def _find_names(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _TRIGGER_RE.finditer(text):
        span = _name_span(text, m.end(), strong=m.group("strong") is not None)
        if span:
            spans.append(span)
    for m in _TITLE_RE.finditer(text):
        span = _name_span(text, m.end(), strong=False)
        if span:
            spans.append(span)
    return spans


def _valid_numeric_date(m: re.Match) -> bool:
    a, b = int(m.group(1)), int(m.group(3))
    if not (1 <= a <= 31 and 1 <= b <= 31):
        return False
    return a <= 12 or b <= 12


def _candidates(text: str) -> list[tuple[str, int, int]]:
    cands: list[tuple[str, int, int]] = []
    for m in _EMAIL_RE.finditer(text):
        cands.append((EMAIL, m.start(), m.end()))
    for m in _NHS_RE.finditer(text):
        if nhs_number_is_valid(m.group(1) + m.group(3) + m.group(4)):
            cands.append((NHS_NUMBER, m.start(), m.end()))
    for m in _NUMERIC_DATE_RE.finditer(text):
        if _valid_numeric_date(m):
            cands.append((DATE_OF_BIRTH, m.start(), m.end()))
    for m in _OTHER_DATE_RE.finditer(text):
        cands.append((DATE_OF_BIRTH, m.start(), m.end()))
    for m in _BIRTH_RE.finditer(text):
        cands.append((DATE_OF_BIRTH, m.start("date"), m.end("date")))
    for s, e in _find_phones(text):
        cands.append((PHONE, s, e))
    for m in _POSTCODE_RE.finditer(text):
        cands.append((POSTCODE, m.start(), m.end()))
    for s, e in _find_names(text):
        cands.append((NAME, s, e))
    return cands


def _find_once(text: str) -> list[tuple[str, tuple[int, int]]]:
    """One pass: candidates merged where they overlap, typed by the longest (ties: TYPES order)."""
    cands = sorted(_candidates(text), key=lambda c: (c[1], -c[2]))
    merged: list[list[Any]] = []  # [start, end, members]
    for typ, s, e in cands:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2].append((typ, s, e))
        else:
            merged.append([s, e, [(typ, s, e)]])
    out = []
    for s, e, members in merged:
        typ = min(members, key=lambda c: (-(c[2] - c[1]), _PRIORITY[c[0]]))[0]
        out.append((typ, (s, e)))
    return out


def find_personal_details(text: str) -> list[tuple[str, tuple[int, int]]]:
    """Every personal detail in text as (type, (start, end)) in the original text, in order.

    Overlapping candidates are merged into one span whose type is that of the longest candidate
    (ties: EMAIL, NHS_NUMBER, DATE_OF_BIRTH, PHONE, POSTCODE, NAME). The search is repeated on the
    text with placeholders in until nothing more is found: a detail can be hidden by what follows it
    ("12/03/1961.9434765919" reads as one number until the NHS number is replaced), so one pass is
    not enough for `redact` to be idempotent.
    """
    if not isinstance(text, str) or not text:
        return []
    current = text
    src: list[tuple[int, int]] = [(i, i + 1) for i in range(len(text))]  # original span of each char
    spans: list[tuple[str, int, int]] = []
    for _ in range(100):  # each pass replaces at least one character; 100 passes is far more than enough
        found = _find_once(current)
        if not found:
            break
        pieces: list[str] = []
        new_src: list[tuple[int, int]] = []
        last = 0
        for typ, (s, e) in found:
            o_start, o_end = src[s][0], src[e - 1][1]
            spans.append((typ, o_start, o_end))
            pieces.append(current[last:s])
            new_src.extend(src[last:s])
            placeholder = f"[{typ}]"
            pieces.append(placeholder)
            new_src.extend([(o_start, o_end)] * len(placeholder))
            last = e
        pieces.append(current[last:])
        new_src.extend(src[last:])
        current = "".join(pieces)
        src = new_src
    spans.sort(key=lambda c: (c[1], -c[2]))
    merged: list[list[Any]] = []
    for typ, s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2].append((typ, s, e))
        else:
            merged.append([s, e, [(typ, s, e)]])
    return [
        (min(m, key=lambda c: (-(c[2] - c[1]), _PRIORITY[c[0]]))[0], (s, e)) for s, e, m in merged
    ]


def redact(text: str) -> str:
    """Replace every personal detail with its placeholder, e.g. ``[EMAIL]``, ``[NAME]``."""
    if not isinstance(text, str):
        raise TypeError(f"redact needs text, got {type(text).__name__}")
    parts: list[str] = []
    last = 0
    for typ, (s, e) in find_personal_details(text):
        parts.append(text[last:s])
        parts.append(f"[{typ}]")
        last = e
    parts.append(text[last:])
    return "".join(parts)


def redact_all(series: pd.Series | Iterable[Any]) -> pd.Series:
    """Redact every text value of a Series (missing values stay missing; other values become text)."""
    if not isinstance(series, pd.Series):
        series = pd.Series(list(series), dtype=object)
    values = []
    for v in series.tolist():
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            values.append(v)
        else:
            values.append(redact(v if isinstance(v, str) else str(v)))
    return pd.Series(values, index=series.index, name=series.name, dtype=object)
