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
``[ADDRESS]``      a house number and a street: "12 Elgin Crescent", "Flat 3, 27 Talbot Road",
                   "45b Portobello Road", "Flat 6, Kensal House"; the street's words capitalised,
                   or in any case after "live(s) at", "moved to", "address". A street with no
                   house number ("on Golborne Road") identifies nobody and is kept.
``[AGE]``          a stated age (the number only): "I am 54", "I'm 61", "she's 49", "my husband
                   is 66", "aged 58", "at the age of 54", "my 7 year old", "a 54-year-old", "54
                   years old", "Bridget, 81,". Ranges and counts are kept ("aged 50 to 74",
                   "aged 60-74", "I am 5 minutes away", "I'm 3 months pregnant"), and so is
                   "age 62".
``[NAME]``         a name after a phrase that introduces one: "my name is", "name:", "call me",
                   "I am"/"I'm", "this is", "ask(ed) for", "speak/spoke/talk(ed) to/with",
                   "called"/"named", "thank you"/"thanks", "regards", "dear", "my <relative or
                   friend>" (daughter, son, husband, ...), and after a title (Mr, Mrs, Ms, Miss, Mx,
                   Dr, Prof, Doctor, and the honorifics Pani, Señora, Senhora, Dona, Hajja, Hajji,
                   Sheikh, Imam, Auntie, Uncle, Pastor, Father), which is kept ("Dr [NAME]");
                   and a capitalised word that the name gazetteer holds, with no phrase before it
                   ("Fatima from the centre helped me book", "The Arabic speaker, Nour, explained").
=================  ============================================================================

After most phrases the word must be capitalised ("I am Fatima" is redacted, "I am grateful" is
not) and must not be a common English word, nationality, religion, language, month or day ("I am
Happy", "I am Somali" are kept). After "my name is" and "name:" a lower-case name is redacted too.
Names of any origin are handled (letters of any script, apostrophes, hyphens: Siobhan, Nguyen,
O'Brien, Al-Hassan, Zoë).

Names that no phrase introduces come from a gazetteer (`sdp_lib.protect.names`): the most common
first names and surnames of the countries of the communities served, from the names-dataset
package, each with its frequency as an English word (wordfreq). It is read the first time a text
with a capitalised word is redacted. A capitalised word is a name when it is in the gazetteer, is
shaped like a name ("Fatima", "O'Brien", not "BAk"), is not a common word, place, organisation,
language, religious word, day or month, and:

- it is rare as an English word (Zipf < 3: "Hodan", "Agnieszka"), wherever it stands;
- or it is inside a sentence (Zipf < 4: "Winston"; Zipf 4 to 5.5, words that are also names: "Mark",
  "Rose", "Grace", only in a name's company: "I went with Mark", "Rose said");
- or it starts a sentence and what follows reads like a name: for Zipf 3 to 4, a verb, "from",
  "and", a comma ("Fatima from ...", "Khalid was ...", "Huda, can you"); for Zipf 4 to 5.5 a
  stronger sign ("Grace Okafor", "Mark said", "Amina and her sister"), so "Mark the date", "Hope is
  what kept me going", "Grace and dignity" are kept. Words commoner than Zipf 5.5 ("Will", "May",
  "Love") are never names by the gazetteer alone.

Runs of capitalised words are taken together ("Sahra Warsame", "Maria da Silva"). Kept as places or
organisations: a run followed by a place word ("Golborne Road", "Hope Centre", "Queen's Park",
"Victoria station", "Stanley ward"), after "in", "at", "near", "from", "into" or "moved to" ("in
Golborne", "from Cork"), after "St" ("St Mary's"), after an article ("a Wilson score", "the Macmillan
nurse"), after a place word ("Notting Dale"), inside a title-case phrase ("the Polish Catholic
Mission"), and a few named after people ("Marie Curie", "Guy's", "Maggie's"). Place words that are
also surnames ("Hill", "Park", "Green", "Church", "Cross") are never names by the gazetteer alone.

Not redacted: times ("at 10:30"), durations, counts, days and months without a year, bare years,
place names, names in lower case or all capitals with no phrase before them ("fatima helped me"),
and names missing from the gazetteer (spelling variants such as "Faadumo").

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
ADDRESS = "ADDRESS"
AGE = "AGE"
TYPES: tuple[str, ...] = (EMAIL, NHS_NUMBER, DATE_OF_BIRTH, PHONE, POSTCODE, ADDRESS, AGE, NAME)
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

# English titles, and the honorifics the communities use before a name (Polish Pani/Pan, Spanish and
# Portuguese Señora/Senhora/Dona, Arabic and Somali Hajja/Hajji/Sheikh/Imam, Auntie/Uncle for elders).
_TITLES = (
    r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Doctor|Professor|Sister|Brother|Pani|Pan|Se[ñn]ora|Se[ñn]or|Senhora|Sra"
    r"|Dona|Hajja|Hajji|Haji|Sheikh|Imam|Auntie|Aunty|Uncle|Pastor|Father|Reverend|Rev)"
)
_TITLE_RE = re.compile(rf"(?<![\w]){_TITLES}\.?[ \t]+")
_TITLE_WORDS = {
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "doctor", "professor", "pani", "pan", "señora", "senora",
    "señor", "senor", "senhora", "sra", "dona", "hajja", "hajji", "haji", "sheikh", "imam", "auntie",
    "aunty", "uncle", "pastor", "father", "reverend", "rev",
}

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
    patient new due late early overdue eligible registered invited booked tested diagnosed
    going trying looking waiting hoping feeling thinking writing calling asking saying telling coming
    leaving living staying getting having making taking doing using following attending
    told asked advised invited reminded encouraged supported helped given sent called named known
    glad happy more less much many few
    everybody nobody anybody somebody people person family friend friends community group team staff
    doctor doctors nurse nurses gp gps nhs clinic hospital surgery pharmacy council charity service
    test tests smear mammogram kit letter leaflet leaflets session
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
    age concern sir madam all team everyone
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


# ---- addresses: a house number and a street

_STREET_TYPES = (
    r"Road|Rd|Street|Avenue|Ave|Lane|Crescent|Close|Gardens|Gdns|Grove|Place|Square|Sq|Terrace|Walk|Way"
    r"|Court|Mews|Drive|Row|Hill|Park|Rise|Vale|Villas|Mansions|House|Estate|Parade|Green|Gate|Yard"
    r"|Passage|Embankment|Broadway|Circus|Wharf|Quay|Buildings|Tower|Towers|Heights|Lodge|Walk"
)
_BUILDING_TYPES = r"Tower|Towers|House|Court|Mansions|Lodge|Buildings|Heights|Estate"
_FLAT = r"(?:[Ff]lat|FLAT|[Aa]partment|[Aa]pt\.?|[Uu]nit)[ \t]+\d{1,4}[A-Za-z]?,?[ \t]+"
_HOUSE_NUMBER = r"(?:[Nn]o\.?[ \t]*)?\d{1,3}[A-Za-z]?(?:[\-/]\d{1,3}[A-Za-z]?)?,?[ \t]+"
_STREET_NAME_WORD = r"(?:[A-Z][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*\.?[ \t]+)"
# "12 Elgin Crescent", "Flat 3, 27 Talbot Road", "45b Portobello Road", "Flat 3, Trellick Tower": the
# street's words capitalised (the type in any case); a lower-case street only after "live(s) at",
# "address", "moved to" ("I live at 12 elgin crescent").
_ADDRESS_RE = re.compile(
    rf"(?<![\w/.\-])(?:{_FLAT})?{_HOUSE_NUMBER}{_STREET_NAME_WORD}{{1,3}}(?i:{_STREET_TYPES})(?![\w\-])"
    rf"|(?<![\w/.\-]){_FLAT}{_STREET_NAME_WORD}{{1,3}}(?i:{_BUILDING_TYPES})(?![\w\-])"
)
_ADDRESS_CUE_RE = re.compile(
    r"(?<!\w)(?:live|lives|living|lived|stay|stays|staying|moved|move)[ \t]+(?:at|to|in)[ \t]+"
    r"|(?<!\w)(?:my|our|home|new|the)?[ \t]*address(?:[ \t]+is)?[ \t]*[:\-]?[ \t]*",
    re.IGNORECASE,
)
_LOWER_ADDRESS_RE = re.compile(
    rf"(?:{_FLAT})?{_HOUSE_NUMBER}(?:[^\W\d_]+[ \t]+){{1,3}}(?:{_STREET_TYPES})(?![\w\-])",
    re.IGNORECASE,
)


def _find_addresses(text: str) -> list[tuple[int, int]]:
    spans = [(m.start(), m.end()) for m in _ADDRESS_RE.finditer(text)]
    for cue in _ADDRESS_CUE_RE.finditer(text):
        m = _LOWER_ADDRESS_RE.match(text, cue.end())
        if m:
            spans.append((m.start(), m.end()))
    return spans


# ---- stated ages: "I am 54", "aged 54", "my 7 year old", "Bridget, 81,"

_AGE_NUMBER = r"(?P<age>(?:1[01]\d|[1-9]?\d))"
# what may not follow a number for it to be an age ("I am 5 minutes late", "aged 50 to 74")
_NOT_AGE_AFTER = (
    r"(?![\d.,:/]\d|\d|[ \t]*(?:%|per[ \t]*cent|percent|x\b|of\b|out\b|in\b[ \t]+\d|st\b|nd\b|rd\b|th\b"
    r"|am\b|pm\b|a\.m|p\.m|weeks?\b|wks?\b|months?\b|days?\b|hours?\b|hrs?\b|minutes?\b|mins?\b|seconds?\b"
    r"|times?\b|miles?\b|km\b|kg\b|stone\b|pounds?\b|lbs?\b|p\b|pence\b|£|\$|people\b|women\b|men\b"
    r"|children\b|kids\b|sessions?\b|appointments?\b|kits?\b|letters?\b|questions?\b|floors?\b|buses\b"
    r"|bus\b|steps\b|sisters?\b|brothers?\b|sons?\b|daughters?\b|grandchildren\b|cm\b|mm\b|ml\b|mg\b"
    r"|[\-\u2013][ \t]*\d|to[ \t]+\d|and[ \t]+(?:over|above|under|older|\d)|or[ \t]+(?:over|above|under|older|more|\d)"
    r"|\+|plus\b))"
)
_AGE_SUBJECT = (
    r"I[ \t]+am|I['\u2019]m|Im|I[ \t]+was|I[ \t]+turned|I[ \t]+turn|I['\u2019]ll[ \t]+be|I[ \t]+will[ \t]+be"
    r"|(?:s?he|they)[ \t]+(?:is|was|turned|turns|are|were)|(?:s?he)['\u2019]s"
    rf"|\[NAME\](?:['\u2019]s)?[ \t]+(?:is|was|turned|turns)"
    rf"|(?:my|her|his|their|our|\[NAME\]['\u2019]s)[ \t]+(?:{_RELATIVES})[ \t]+(?:is|was|turned|turns)"
)
_AGE_RES = [re.compile(p, re.IGNORECASE) for p in (
    # "I am 54", "she's 49", "my husband is 66", "[NAME] is 72" (a name redacted in an earlier pass)
    rf"(?<![\w'\u2019])(?:{_AGE_SUBJECT})[ \t]+(?:now[ \t]+|nearly[ \t]+|almost[ \t]+|just[ \t]+)?{_AGE_NUMBER}"
    rf"(?:[ \t]*(?:years?|yrs?)(?:[ \t\-]*old)?)?{_NOT_AGE_AFTER}",
    # "aged 54", "at the age of 54"
    rf"(?<!\w)(?:aged|at[ \t]+the[ \t]+age[ \t]+of|age[ \t]+of)[ \t]+{_AGE_NUMBER}{_NOT_AGE_AFTER}",
    # "my 7 year old", "a 54-year-old woman", "54 years old", "12 yrs old", "7yo"
    rf"(?<![\w.,]){_AGE_NUMBER}(?:[ \t\-]*(?:years?|yrs?|yr)[ \t\-]*old|[ \t]?y\.?o\.?(?!\w)|[ \t]?y/o)",
    # "Bridget, 81," "[NAME] (67)": an age set off after a name (redacted in an earlier pass)
    rf"(?<=\[NAME\]),[ \t]*{_AGE_NUMBER}(?=[ \t]*(?:,|;|\)|\.(?!\d)|$|[ \t]+(?:from|of|and|who|said)\b))",
    rf"(?<=\[NAME\])[ \t]*\([ \t]*{_AGE_NUMBER}[ \t]*\)",
)]


def _find_ages(text: str) -> list[tuple[int, int]]:
    spans = []
    for rx in _AGE_RES:
        for m in rx.finditer(text):
            s, e = m.span("age")
            if int(m.group("age")) <= 120:
                spans.append((s, e))
    return spans


# ---- names that no phrase introduces: capitalised words found in the gazetteer

# Zipf thresholds (wordfreq: log10 of occurrences per billion words) that sort gazetteer names by how
# common they are as English words: below _RARE a word is a name wherever it is capitalised ("Hodan",
# "Agnieszka"); below _WORDLIKE it is a name at a sentence start only if what follows reads like a name
# ("Fatima from ...", "Khalid was ..."); from _WORDLIKE up ("Grace", "Mark", "Hope") a capitalised word
# at a sentence start is a name only with stronger evidence ("Grace Okafor", "Mark said", "Amina and
# her"); inside a sentence any capitalised gazetteer word is a name unless its place in the sentence
# makes it a place or an organisation.
_RARE = 3.0
_WORDLIKE = 4.0

# Words never taken for names from the gazetteer: local places (wards, areas, estates, streets),
# places the communities come from, organisations, languages and peoples missing from COMMON_WORDS,
# religious words, and words capitalised in health and council text.
_PLACE_WORDS = frozenset(
    """
    kensington chelsea westminster rbkc wcc notting golborne dalgarno colville norland pembridge campden
    abingdon courtfield brompton redcliffe knightsbridge belgravia pimlico marylebone bayswater paddington
    maida westbourne lisson queensway mayfair soho fitzrovia ladbroke portobello kensal trellick grenfell
    wornington silchester hammersmith fulham brent camden edgware kilburn charing latimer westway
    holborn wandsworth lambeth southwark hackney islington hamlets newham ealing acton harlesden
    willesden wembley cricklewood battersea brixton peckham whitechapel bethnal stepney
    london england scotland wales britain ireland europe africa asia america caribbean arabia
    hargeisa mogadishu somaliland puntland asmara khartoum omdurman cairo casablanca rabat tangier
    tetouan nador marrakech fes fez agadir oujda algiers oran tunis tripoli benghazi baghdad basra mosul
    erbil damascus aleppo homs beirut gaza jerusalem sanaa riyadh jeddah mecca makkah madinah dubai doha
    kuwait manama muscat dhaka sylhet chittagong karachi lahore islamabad mirpur kabul herat tehran
    istanbul ankara lisbon funchal madeira luanda bahia madrid barcelona bogota bogotá medellin quito
    guayaquil cochabamba montevideo caracas warsaw krakow kraków gdansk gdańsk wroclaw wrocław poznan
    poznań lodz łódź trinidad tobago barbados dublin cork galway limerick belfast lagos abuja accra
    kumasi manila cebu nairobi kampala tigray amhara oromia ogaden
    """.split()
)
# Places of several words, some of them also names ("São Paulo", "St Lucia", "Santa Cruz", "Rio de
# Janeiro", "Shepherd's Bush"): kept whole.
_PLACE_PHRASES = (
    r"S[ãa]o[ \t]+Paulo|Rio(?:[ \t]+de)?[ \t]+Janeiro|La[ \t]+Paz|Santa[ \t]+Cruz|Buenos[ \t]+Aires"
    r"|Addis[ \t]+Ababa|St\.?[ \t]+Lucia|Saint[ \t]+Lucia|St\.?[ \t]+Kitts|St\.?[ \t]+Vincent|Montego[ \t]+Bay"
    r"|Port[ \t]+of[ \t]+Spain|Port[ \t\-]+au[ \t\-]+Prince|Shepherd['\u2019]s[ \t]+Bush|St\.?[ \t]+John['\u2019]s[ \t]+Wood"
    r"|Swiss[ \t]+Cottage|Royal[ \t]+Oak|Marble[ \t]+Arch|Little[ \t]+Venice|Elephant[ \t]+and[ \t]+Castle"
    r"|Canary[ \t]+Wharf|Tower[ \t]+Hamlets|Victoria[ \t]+Embankment|Notting[ \t]+Hill|Earl['\u2019]?s[ \t]+Court"
)
_NOT_NAMES = _PLACE_WORDS | frozenset(
    """
    latin latino latina latinx hispanic lusophone madeiran goan darija berber amazigh tamazight creole
    patois kreyol sylheti bangla oromo tigrayan amharic tigre saho afar lingala wolof twi hausa
    kosovan kurd kurds roma gypsy traveller travellers
    god allah jesus christ lord prophet quran koran bible gospel church mosque temple gurdwara
    synagogue masjid imam sheikh pastor reverend vicar priest bishop father sister brother saint
    allahu inshallah inshaallah mashallah alhamdulillah bismillah salaam salam
    macmillan curie barnardos sainsburys morrisons lidl aldi harrods selfridges
    whatsapp facebook instagram tiktok youtube google zoom teams skype viber telegram signal
    healthwatch samaritans mind shelter crisis
    council borough ward wards trust centre center clinic hospital surgery practice unit health
    service services smear mammogram nurse doctor gp nhs
    mum mummy mom mommy mam mama mother dad daddy papa father nan nana nanny granny grandma grandad
    grandpa auntie aunty uncle sis bro hun babe darling love dear sweetheart habibi habibti
    hello hi hey dear thanks thank please sorry yes no ok okay
    covid coronavirus flu fit hpv ramadan eid christmas easter diwali hanukkah vaisakhi lent advent
    monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays
    fridays saturdays sundays
    i me my mine we us our they them he she his her it
    """.split()
)

# Capitalised words that make the words before them the name of a place or an organisation
# ("Golborne Road", "St Charles Centre", "Grace House", "Hope Centre").
_PLACE_NOUNS = frozenset(
    """
    road rd street st avenue ave lane crescent close gardens gdns grove place square sq terrace walk way
    court mews drive row hill park rise vale villas mansions house estate parade green gate yard passage
    embankment broadway circus wharf quay buildings tower towers heights lodge bridge cross common
    centre center hospital clinic surgery practice mosque church chapel cathedral temple gurdwara
    synagogue masjid school college university academy library hall halls ward wards station market
    trust foundation association society group club project network forum partnership alliance
    charity council borough unit service services hub cafe café restaurant shop pharmacy chemist
    medical health primary care nursing care home homes centre's hospital's surgery's
    """.split()
)
# Lower-case words that, right after a capitalised word, make it the name of a place ("Victoria
# station", "the Al-Manaar centre", "Stanley ward").
_LOWER_PLACE_NOUNS = frozenset(
    """
    road roads street streets avenue lane crescent gardens grove square estate estates park station centre
    centres center hospital hospitals clinic clinics surgery surgeries practice practices mosque mosques
    church churches chapel temple school schools college library libraries ward wards market tower house
    hall community health medical area areas borough
    """.split()
)
# Words before a capitalised word that make it a place ("in Golborne", "from Cork", "into Darija").
_PLACE_PREPOSITIONS = frozenset(
    "in at near into around outside inside across towards toward opposite behind from via through "
    "within beyond".split()
)
_MOVE_TO_RE = re.compile(
    r"(?:move|moved|moving|go|goes|going|went|gone|come|came|coming|back|travel|travelled|traveled|"
    r"fly|flew|flown|return|returned|returning|visit|visited|drive|drove|driven|walk|walked|bus|train|"
    r"tube|trip|journey|holiday|holidays|way|ways|home|route|directions)[ \t]+to[ \t]+$",
    re.IGNORECASE,
)
# Words that start a place name, not a person's ("St Mary's", "San Antonio").
_PLACE_STARTS = frozenset("st st. saint san santa são sao ste mount mt port fort lake north south east west".split())
# Lower-case particles inside a name ("Maria da Silva", "Ahmed bin Said", "Ludwig van Beethoven").
_PARTICLES = frozenset("da de do dos das del della di du van von der den ter bin bint ibn al el la le y e".split())
_ARABIC_PREFIXES = frozenset("al el abd abdel abdul abu bin ben ibn bint ould".split())
# What, after a capitalised word at the start of a sentence, shows that it is a name.
_STRONG_NEXT = frozenset(
    """
    said says told tells explained explains asked asks rang rings phoned phones called texted texts
    emailed messaged translated translates interpreted booked books drove drives brought brings came comes
    went goes walked walks helped helps showed shows took takes organised organized organises organizes
    ran runs spoke speaks talked talks sang sings cried laughed knocked invited invites encouraged
    encourages visited visits volunteers volunteered works worked lives lived arrived joined met gave
    gives sent sends wrote writes started stayed sat answered listened smiled agreed promised mentioned
    suggested shared persuaded convinced reminded reminds collected picked accompanied supported
    supports welcomed welcomes led leads who whose from
    """.split()
)
_WEAK_NEXT = _STRONG_NEXT | frozenset(
    "is was has had and from with will would could can did does didn't doesn't wasn't isn't hasn't "
    "also always never".split()
)
_AND_NEXT = frozenset("his her their him them i me my myself she he we us our".split())
# A sentence starts at the start of the text or a line, after . ! ? ; : or a bullet, and at an opening
# quote or bracket ('she said, "Hope ...', "(Low & Low 2004)"), list and heading marks allowed before it.
_SENTENCE_END_RE = re.compile(
    r"(?:(?:^|[.!?;:\n\u2022]|[.!?]['\"\u2019\u201d)])[\s\"'\u2018\u201c(\[\-\u2013*#>|]*"
    r"|(?:^|\s)[\"'\u2018\u201c(\[])$"
)
# Words before a capitalised word that make it part of a title or a description, not a person's name
# ("a Wilson score interval", "the Newcombe method", "the Macmillan nurse").
_DETERMINERS = frozenset("a an the this that these those every each any some no".split())
# Words before a capitalised common word ("Mark", "Rose", "Grace") inside a sentence that show it is a
# person ("I went with Mark", "ask Rose", "thanks to Grace").
_NAME_PREV = frozenset(
    """
    with and to by for called named like ask asked tell told thank thanks met meet saw see visited visit
    phoned phone rang ring texted text emailed email helped help joined join behind beside or nor
    but when while because until if after before who whom whose said says
    """.split()
)
_MONTH_ABBREVIATIONS = frozenset(
    "jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun".split()
)
# Organisations and places named after people: kept.
_NAMED_AFTER_PEOPLE_RE = re.compile(
    r"(?<!\w)(?:Marie[ \t]+Curie|Florence[ \t]+Nightingale|Mary[ \t]+Seacole|Terrence[ \t]+Higgins"
    r"|Princess[ \t]+(?:Grace|Alice|Royal|Diana)|Prince[ \t]+(?:Charles|William|of[ \t]+Wales)"
    r"|King[ \t]+Edward(?:[ \t]+VII)?|Queen[ \t]+(?:Mary|Elizabeth|Charlotte)|Great[ \t]+Ormond"
    r"|Guy['\u2019]s|Maggie['\u2019]s|Jo['\u2019]s|Barnardo['\u2019]s|Sainsbury['\u2019]s|St[ \t]+Thomas['\u2019]?"
    r"|Age[ \t]+UK|Jamie['\u2019]s"
    r"|(?:Eid|Ramadan)[ \t]+(?:Mubarak|Kareem|Karim|Saeed|Said|Sa['\u2019]eed)"
    r"|(?:Prophet|Holy[ \t]+Prophet)[ \t]+(?:Muhammad|Mohammed|Mohammad|Muhammed|Mohamed|Isa|Musa|Ibrahim)"
    rf"|{_PLACE_PHRASES})(?!\w)"
)
_PLACEHOLDER_RE = re.compile(r"\[(?:EMAIL|PHONE|NHS_NUMBER|POSTCODE|DATE_OF_BIRTH|ADDRESS|AGE|NAME)\]")
_TOKEN_RE = re.compile(rf"{_PLACEHOLDER_RE.pattern}|[^\W\d_]+(?:['\u2019\-][^\W\d_]+)*(?:['\u2019]s)?|\S")


class _Tok:
    __slots__ = ("start", "end", "text", "word", "possessive", "cap", "zipf", "stop", "kind")

    def __init__(self, m: re.Match):
        self.start, self.end, self.text = m.start(), m.end(), m.group(0)
        self.possessive = len(self.text) > 2 and self.text[-2:].lower() in ("'s", "\u2019s") and self.text[0].isalpha()
        self.word = self.text[:-2] if self.possessive else self.text
        self.kind = "placeholder" if self.text.startswith("[") and len(self.text) > 1 else (
            "word" if self.text[0].isalpha() else "punct")
        letters = [ch for ch in self.word if ch.isalpha()]
        self.cap = (
            self.kind == "word" and self.word[0].isupper()
            and not (len(letters) > 1 and all(ch.isupper() for ch in letters))
        )
        low = self.word.lower().replace("\u2019", "'")
        self.stop = (
            low in COMMON_WORDS or low in _TITLE_WORDS or low in _NOT_NAMES or low.replace("'", "") in _NOT_NAMES
            or low in _PLACE_NOUNS
        )
        self.zipf: float | None = None


def _name_shaped(word: str) -> bool:
    """A capital then lower-case letters in each part ("Fatima", "O'Brien", "Al-Hassan", "McDonald"),
    not mixed case ("BAk", "iPhone", "WhatsApp")."""
    for part in re.split(r"['\u2019\-]", word):
        if not part:
            return False
        head = re.match(r"(?:Mc|Mac|De|Di|Da|La|Le|Van|Von|Fitz)(?=[^\W\d_]{2})", part)
        rest = part[head.end():] if head and part[head.end()].isupper() else part
        if not (rest[0].isupper() or (part is not word and rest.islower())):
            return False
        if rest[1:] and not rest[1:].islower():
            return False
    return True


def _gazetteer_zipf(word: str, gazetteer: Any) -> float | None:
    """Zipf value of a gazetteer name, None if the word is not a name; "O'Sullivan", "Al-Hassan" and
    "Jean-Pierre" are names when their parts are."""
    if not _name_shaped(word):
        return None
    letters = sum(ch.isalpha() for ch in word)
    z = gazetteer.zipf(word)
    if z is not None:
        return z if letters >= 3 else None
    if re.fullmatch(r"(?:O|Mc|Mac|D|Fitz)['\u2019]?[A-Z][^\W\d_]{2,}", word) and not word.isupper():
        rest = re.sub(r"^(?:O|Mc|Mac|D|Fitz)['\u2019]?", "", word)
        if gazetteer.zipf(rest) is not None:
            return 0.0
    if "-" in word:
        parts = word.split("-")
        zs = []
        for part in parts:
            if part.lower() in _ARABIC_PREFIXES:
                continue
            pz = gazetteer.zipf(part)
            if pz is None or len(part) < 3 or part.lower() in COMMON_WORDS or part.lower() in _NOT_NAMES:
                return None
            zs.append(pz)
        if zs:
            return min(zs)
    return None


def _find_gazetteer_names(text: str) -> list[tuple[int, int]]:
    toks = [_Tok(m) for m in _TOKEN_RE.finditer(text)]
    for m in _NAMED_AFTER_PEOPLE_RE.finditer(text):
        for t in toks:
            if t.start < m.end() and m.start() < t.end:
                t.stop = True
    for t in toks:
        # "Dec 2023", "3 Jul": a month, not "Jan" or "Dec" the name
        if t.kind == "word" and t.word.lower().rstrip(".") in _MONTH_ABBREVIATIONS and (
                re.match(r"[ \t.,]*\d", text[t.end:]) or re.search(r"\d(?:st|nd|rd|th)?[ \t,]*$", text[:t.start])):
            t.stop = True
    if not any(t.cap and not t.stop for t in toks):
        return []  # nothing could be a name: the gazetteer is not even loaded
    from sdp_lib.protect.names import load_gazetteer  # noqa: PLC0415 - loaded at first use only

    gazetteer = load_gazetteer()
    for t in toks:
        if t.cap and not t.stop:
            t.zipf = _gazetteer_zipf(t.word, gazetteer)

    def is_name_tok(t: _Tok) -> bool:
        return t.text == "[NAME]" or (t.cap and not t.stop and t.zipf is not None)

    # runs: capitalised words (and [NAME]) separated by single spaces, with particles between them
    runs: list[list[int]] = []
    i = 0
    n = len(toks)
    while i < n:
        t = toks[i]
        if not ((t.cap and not t.stop) or t.text == "[NAME]"):
            i += 1
            continue
        run = [i]
        j = i
        while not toks[j].possessive:
            k = j + 1
            # a particle between two capitalised words ("da", "bin")
            if (k + 1 < n and toks[k].text in _PARTICLES and _gap_ok(text, toks[j], toks[k])
                    and _gap_ok(text, toks[k], toks[k + 1]) and toks[k + 1].cap and not toks[k + 1].stop):
                run += [k, k + 1]
                j = k + 1
                continue
            if k < n and _gap_ok(text, toks[j], toks[k]) and (
                    (toks[k].cap and not toks[k].stop) or toks[k].text == "[NAME]"):
                run.append(k)
                j = k
                continue
            # a place noun that is also a stop word ("Church Street", "Golborne Road") ends the run as a place
            break
        runs.append(run)
        i = j + 1

    spans: list[tuple[int, int]] = []
    for run in runs:
        words = [toks[r] for r in run if toks[r].text not in _PARTICLES or toks[r].cap]
        first, last = toks[run[0]], toks[run[-1]]
        nxt = toks[run[-1] + 1] if run[-1] + 1 < n else None
        nxt2 = toks[run[-1] + 2] if run[-1] + 2 < n else None
        prev = toks[run[0] - 1] if run[0] > 0 else None
        # places and organisations
        if any(w.word.lower() in _PLACE_NOUNS for w in words[1:]) or first.word.lower() in _PLACE_STARTS:
            continue
        if (nxt is not None and not last.possessive and nxt.kind == "word" and nxt.text in _LOWER_PLACE_NOUNS
                and _gap_ok(text, last, nxt)):
            continue
        if nxt is not None and nxt.cap and nxt.stop and nxt.word.lower() in _PLACE_NOUNS and _gap_ok(text, last, nxt):
            continue  # "Church Street": the noun is a stop word, so it ended the run
        if prev is not None and prev.kind == "word" and prev.text.lower() in _PLACE_PREPOSITIONS:
            continue
        if prev is not None and prev.kind == "word" and prev.text.lower() in _DETERMINERS:
            continue  # "a Wilson score", "the Macmillan nurse"
        if (prev is not None and prev.cap and prev.word.lower() in _PLACE_WORDS and not prev.possessive
                and _gap_ok(text, prev, first)):
            continue  # "Notting Dale", "Kensal Rise": the rest of a place's name
        if _MOVE_TO_RE.search(text, 0, first.start):
            continue
        if (last.possessive and nxt is not None and nxt.cap and nxt.word.lower() in _PLACE_NOUNS
                and _gap_ok(text, last, nxt)):
            continue  # "Queen's Park", "Earl's Court", "King's College"
        at_start = _SENTENCE_END_RE.search(text, 0, first.start) is not None
        if at_start and len(words) >= 2 and not is_name_tok(words[0]):
            # an ordinary word starting the sentence ("Ask Latifa", "Call Hanan"): the rest is mid-sentence
            words = words[1:]
            first = words[0]
            at_start = False
        if len(words) == 1 and words[0].zipf is not None and words[0].zipf >= _WORDLIKE and not at_start:
            # a common word inside a title-case phrase ("the Polish Catholic Mission", "Carers Rights Day")
            before = prev if words[0] is toks[run[0]] else None
            if (before is not None and before.cap and before.stop and before.word.lower() not in _TITLE_WORDS
                    and _gap_ok(text, before, words[0])
                    and _SENTENCE_END_RE.search(text, 0, before.start) is None):
                continue
            if nxt is not None and nxt.cap and _gap_ok(text, words[0], nxt):
                continue
        named = [w for w in words if is_name_tok(w)]
        if not named or all(w.text == "[NAME]" for w in named):
            continue
        rare = [w for w in named if w.text == "[NAME]" or (w.zipf is not None and w.zipf < _WORDLIKE)]
        if len(words) >= 2:
            # several capitalised words: a name when all are names, or when one is a rare name and the
            # others are unknown words ("Sahra Warsame"); a title-case phrase otherwise
            unknown = [w for w in words if not is_name_tok(w)]
            if unknown and not rare:
                continue
            if unknown and at_start and words[0] in unknown:
                continue  # "Leaflet Fatima"? a heading or a phrase, not a name
        else:
            w = words[0]
            if w.text == "[NAME]":
                continue
            z = w.zipf if w.zipf is not None else 9.0
            if at_start and z >= _RARE:
                strong = z >= _WORDLIKE
                if not _name_follows(text, w, nxt, nxt2, strong):
                    continue
            elif not at_start and z >= _WORDLIKE:
                # a common word capitalised inside a sentence: a name only in a name's company
                before = toks[run[0] - 1] if run[0] > 0 else None
                if not ((before is not None and before.kind == "word" and before.text.lower() in _NAME_PREV)
                        or _name_follows(text, w, nxt, nxt2, False)):
                    continue
        s = words[0].start
        e = words[-1].start + len(words[-1].word)
        if words[0].text == "[NAME]" or words[-1].text == "[NAME]":
            inner = [w for w in words if w.text != "[NAME]"]
            if not inner:
                continue
            s, e = inner[0].start, inner[-1].start + len(inner[-1].word)
        spans.append((s, e))
    return spans


def _gap_ok(text: str, a: _Tok, b: _Tok) -> bool:
    """True when only spaces or tabs (one or two) separate two tokens."""
    gap = text[a.end:b.start]
    return 0 < len(gap) <= 2 and gap.strip(" \t") == ""


def _name_follows(text: str, w: _Tok, nxt: _Tok | None, nxt2: _Tok | None, strong: bool) -> bool:
    """Whether what follows a capitalised word at a sentence start shows that it is a name."""
    if w.possessive:
        return True  # "Dorota's husband"
    if nxt is None:
        return False
    if nxt.text == ",":
        return not strong  # "Huda, can you ..." (but "Hope, faith and love")
    if nxt.kind != "word":
        return False
    low = nxt.text.lower()
    if low == "and" and nxt2 is not None:
        if nxt2.text == "[NAME]" or nxt2.text.lower() in _AND_NEXT:
            return True  # "Amina and her sister", "Carmen and [NAME]"
        if nxt2.cap and not nxt2.stop and nxt2.zipf is not None:
            return True  # "Margaret and Jean"
        return not strong and nxt2.cap
    if strong:
        return low in _STRONG_NEXT
    return low in _WEAK_NEXT or (low.endswith("ed") and len(low) > 3)


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
    for s, e in _find_addresses(text):
        cands.append((ADDRESS, s, e))
    for s, e in _find_ages(text):
        cands.append((AGE, s, e))
    for s, e in _find_names(text):
        cands.append((NAME, s, e))
    for s, e in _find_gazetteer_names(text):
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
