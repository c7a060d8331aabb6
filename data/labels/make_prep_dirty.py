#!/usr/bin/env python3
"""Build the labelled dirty evaluation file for the `llmforge prep` detectors.

Run from the repository root:  python data/labels/make_prep_dirty.py

Writes data/labels/prep_dirty.jsonl: clean Self-Instruct rows plus planted PII, exact duplicates, near-duplicates and
benchmark contamination, with hard negatives for each detector. Deterministic (fixed seed), standard library only.
Reads data/training/self_instruct_*.jsonl, data/benchmarks/*.jsonl (questions) and data/quickstart.jsonl (only to
check that no row contains a quickstart question either). See data/labels/PREP_DIRTY.md for the label definitions.
Every check the documentation promises is an assert below; the script prints the counts and Jaccard statistics.
"""
import glob
import hashlib
import ipaddress
import json
import os
import random
import re
import statistics
import unicodedata

SEED = 20250611
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "data", "labels", "prep_dirty.jsonl")
FIELDS = ("instruction", "input", "output")
PII_TYPES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "URL", "US_SSN", "CRYPTO",
             "PERSON", "LOCATION")
NEAR_DUP_MIN_J = 0.8        # every labelled near-duplicate pair is at or above this
HARD_NEG_MAX_J = 0.6        # every near-dup hard negative is below this against every other row
UNLABELLED_MAX_J = 0.7      # every pair of rows not in the same duplicate cluster is below this


def rel(*parts):
    return os.path.join(ROOT, *parts)


# ----------------------------------------------------------------------------------------------------------------------
# Normalisations (the label definitions; PREP_DIRTY.md quotes them)

def row_text(r):
    return " ".join(r[f] for f in FIELDS)


def norm_jaccard(r):
    """Text used for near-duplicate Jaccard: instruction + input + output, lowercased, whitespace collapsed."""
    return re.sub(r"\s+", " ", row_text(r).lower()).strip()


def shingles(text, k=5):
    if len(text) < k:
        return {text}
    return {text[i:i + k] for i in range(len(text) - k + 1)}


def word_shingles(text, n):
    w = text.split()
    return {tuple(w[i:i + n]) for i in range(max(1, len(w) - n + 1))}


def jaccard(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def norm_exact(s):
    """Exact-duplicate normalisation of one field: casefold, collapse whitespace, no space before , . ; : ! ? ) ] }
    and none after ( [ {."""
    s = re.sub(r"\s+", " ", s.casefold()).strip()
    s = re.sub(r" (?=[.,;:!?)\]}])", "", s)
    s = re.sub(r"(?<=[(\[{]) ", "", s)
    return s


def norm_q(s):
    """Contamination normalisation: NFKC, lowercase, every non-alphanumeric character -> space, collapse spaces."""
    s = unicodedata.normalize("NFKC", s).lower()
    s = "".join(ch if ch.isalnum() else " " for ch in s)
    return " ".join(s.split())


# ----------------------------------------------------------------------------------------------------------------------
# Checksummed identifiers

def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix_digits):
    for c in "0123456789":
        if luhn_ok(prefix_digits + c):
            return prefix_digits + c
    raise AssertionError


def iban_mod97(s):
    s = s.replace(" ", "").upper()
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97


IBAN_LENGTHS = {"DE": 22, "GB": 22, "FR": 27, "ES": 24, "NL": 18, "IT": 27, "BE": 16, "CH": 21, "AT": 20, "IE": 22}


def iban_ok(s):
    c = s.replace(" ", "")
    return (c[:2] in IBAN_LENGTHS and len(c) == IBAN_LENGTHS[c[:2]] and c[2:4].isdigit() and iban_mod97(c) == 1)


def iban_from_bban(cc, bban):
    num = "".join(str(int(ch, 36)) for ch in bban + cc + "00")
    return f"{cc}{98 - int(num) % 97:02d}{bban}"


def spaced4(s):
    return " ".join(s[i:i + 4] for i in range(0, len(s), 4))


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(b):
    n = int.from_bytes(b, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = B58[r] + out
    pad = len(b) - len(b.lstrip(b"\0"))
    return "1" * pad + out


def b58decode(s):
    n = 0
    for ch in s:
        if ch not in B58:
            return None
        n = n * 58 + B58.index(ch)
    pad = len(s) - len(s.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def dsha(b):
    return hashlib.sha256(hashlib.sha256(b).digest()).digest()


def base58check(version, payload):
    raw = bytes([version]) + payload
    return b58encode(raw + dsha(raw)[:4])


def base58check_ok(s):
    raw = b58decode(s)
    if raw is None or len(raw) != 25:
        return False
    return dsha(raw[:-4])[:4] == raw[-4:] and raw[0] in (0, 5)


BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32M_CONST = 0x2BC830A3


def bech32_polymod(values):
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def bech32_hrp_expand(hrp):
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def convertbits(data, frombits, tobits):
    acc, bits, out = 0, 0, []
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            out.append((acc >> bits) & ((1 << tobits) - 1))
    if bits:
        out.append((acc << (tobits - bits)) & ((1 << tobits) - 1))
    return out


def segwit_address(witver, program):
    const = 1 if witver == 0 else BECH32M_CONST
    data = [witver] + convertbits(program, 8, 5)
    polymod = bech32_polymod(bech32_hrp_expand("bc") + data + [0] * 6) ^ const
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return "bc1" + "".join(BECH32_CHARSET[d] for d in data + checksum)


def bech32_ok(s):
    if not s.startswith("bc1") or any(ch not in BECH32_CHARSET for ch in s[3:]):
        return False
    data = [BECH32_CHARSET.index(ch) for ch in s[3:]]
    if len(data) < 7:
        return False
    const = bech32_polymod(bech32_hrp_expand("bc") + data)
    witver = data[0]
    return (witver == 0 and const == 1) or (1 <= witver <= 16 and const == BECH32M_CONST)


def btc_ok(s):
    return bech32_ok(s) if s.startswith("bc1") else base58check_ok(s)


FAMOUS_BAD_SSNS = {"078-05-1120", "219-09-9999", "457-55-5462", "123-45-6789"}


def ssn_ok(s):
    d = re.sub(r"[ -]", "", s)
    if not re.fullmatch(r"\d{9}", d):
        return False
    area, group, serial = int(d[:3]), int(d[3:5]), int(d[5:])
    if area == 0 or area == 666 or area >= 900 or group == 0 or serial == 0:
        return False
    return f"{d[:3]}-{d[3:5]}-{d[5:]}" not in FAMOUS_BAD_SSNS


def isbn13_complete(twelve):
    s = sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(twelve))
    return twelve + str((10 - s % 10) % 10)


# ----------------------------------------------------------------------------------------------------------------------
# Synthetic PII generators (all values invented; phone numbers from ranges reserved for fiction)

FIRST = ["Priya", "Tomasz", "Amara", "Mateo", "Yuki", "Oluwaseun", "Ingrid", "Farhan", "Lucía", "Dmitri", "Aisha",
         "Connor", "Rafael", "Zanele", "Henrik", "Leila", "Kwame", "Sofia", "Arjun", "Ewa", "Diego", "Hannah", "Tariq",
         "Naomi", "Bruno", "Keiko", "Samuel", "Elif", "Marcus", "Anouk", "Javier", "Thandiwe", "Ravi", "Greta",
         "Nikolai", "Chiara", "Emeka", "Sunita", "Pablo", "Freya", "Hamza", "Ines", "Jonas", "Malia", "Wojciech"]
LAST = ["Raman", "Kowalczyk", "Okafor", "Fernández", "Tanaka", "Adeyemi", "Lindqvist", "Chowdhury", "Moreno", "Volkov",
        "Haddad", "Gallagher", "Oliveira", "Dlamini", "Johansson", "Rahimi", "Mensah", "Rossi", "Iyer", "Nowak",
        "Castillo", "Becker", "Aziz", "Whitfield", "Carvalho", "Sato", "Brennan", "Yilmaz", "Osei", "Van der Berg",
        "Petrova", "Nakamura", "Abernathy", "Kaur", "Lemaire", "Quispe", "Halvorsen", "Mbeki", "Duarte", "Szabo"]
CITIES = ["Lisbon", "Nairobi", "Kraków", "Osaka", "Rotterdam", "Bergen", "Valparaíso", "Hyderabad", "Winnipeg",
          "Adelaide", "Leeds", "Lyon", "Seville", "Tucson", "Dakar", "Hanoi", "Montevideo", "Ljubljana", "Edinburgh",
          "Guadalajara", "Busan", "Marrakesh", "Tallinn", "Denver", "Sacramento", "Pittsburgh", "Glasgow", "Bilbao",
          "Gothenburg", "Antwerp", "Quito", "Accra", "Kyoto", "Cork", "Porto", "Graz"]
COUNTRIES = ["Portugal", "Kenya", "Chile", "Vietnam", "Norway", "Ghana", "Peru", "Estonia", "Slovenia", "Uruguay",
             "Morocco", "Iceland", "New Zealand", "South Korea", "Argentina", "Colombia"]
US_STATES = ["Oregon", "Ohio", "Vermont", "Arizona", "Nebraska", "Maine", "Minnesota", "Kentucky"]
US_AREAS = ["415", "212", "312", "646", "206", "617", "303", "512", "702", "919", "503", "804"]
AU_MOBILES = ["0491 570 006", "0491 570 156", "0491 570 313", "0491 571 266", "0491 572 549", "0491 573 770"]
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.example.com", "billing.example.net",
                 "eu.support.example.org", "contoso.com", "fabrikam.com", "research.example.edu", "hr.contoso.com"]
TAGS = ["invoices", "news", "travel", "receipts", "github", "jobs", "school", "alerts"]


class Gen:
    """Value generators; draws without replacement where a clash would make two rows share a value."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def _fresh(self, fn):
        for _ in range(1000):
            v = fn()
            if v not in self.used:
                self.used.add(v)
                return v
        raise AssertionError("generator exhausted")

    # names and places
    def person(self):
        r = self.rng
        pair = self._fresh(lambda: (r.choice(FIRST), r.choice(LAST)))
        return {"first": pair[0], "last": pair[1], "full": f"{pair[0]} {pair[1]}"}

    def city(self):
        return self._fresh(lambda: self.rng.choice(CITIES))

    def country(self):
        return self._fresh(lambda: self.rng.choice(COUNTRIES))

    def state(self):
        return self._fresh(lambda: self.rng.choice(US_STATES))

    # email
    def email(self, style, person=None):
        """person: build the local part from this person's name instead of a random one."""
        r = self.rng

        def ascii_lower(name):
            return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()

        def mk():
            f = ascii_lower(person["first"] if person else r.choice(FIRST))
            last = ascii_lower(person["last"] if person else r.choice(LAST))
            last = last.replace(" ", "")
            if style == "plus":
                local = f"{f}.{last}+{r.choice(TAGS)}"
                dom = r.choice(EMAIL_DOMAINS)
            elif style == "sub":
                local = f"{f[0]}{last}"
                dom = r.choice(["mail.example.com", "billing.example.net", "eu.support.example.org",
                                "research.example.edu", "hr.contoso.com"])
            elif style == "digits":
                local = f"{f}{last[:3]}{r.randrange(10, 99)}"
                dom = r.choice(EMAIL_DOMAINS)
            elif style == "underscore":
                local = f"{f}_{last}"
                dom = r.choice(EMAIL_DOMAINS)
            elif style == "role":
                local = r.choice(["accounts", "helpdesk", "press", "admissions", "orders"])
                dom = r.choice(["contoso.com", "fabrikam.com", "example.org", "example.net"])
            else:
                local = f"{f}.{last}"
                dom = r.choice(EMAIL_DOMAINS)
            return f"{local}@{dom}"
        return self._fresh(mk)

    # phones
    def us_number(self):
        r = self.rng
        return self._fresh(lambda: (r.choice(US_AREAS), f"01{r.randrange(0, 100):02d}"))

    def phone(self, style):
        r = self.rng
        if style.startswith("us"):
            return us_format(*self.us_number(), style)
        if style == "uk_london":
            return self._fresh(lambda: f"+44 20 7946 0{r.randrange(0, 1000):03d}")
        if style == "uk_london_local":
            return self._fresh(lambda: f"020 7946 0{r.randrange(0, 1000):03d}")
        if style == "uk_manchester":
            return self._fresh(lambda: f"+44 161 496 0{r.randrange(0, 1000):03d}")
        if style == "au_landline":
            return self._fresh(lambda: f"+61 2 5550 {r.randrange(0, 10000):04d}")
        if style == "au_mobile":
            return "+61 " + self._fresh(lambda: r.choice(AU_MOBILES))[1:]
        raise KeyError(style)

    # cards
    def card_digits(self, brand):
        r = self.rng

        def mk():
            if brand == "visa":
                pre, n = "4" + "".join(r.choice("0123456789") for _ in range(5)), 16
            elif brand == "mc":
                pre, n = str(r.randrange(51, 56)) + "".join(r.choice("0123456789") for _ in range(4)), 16
            elif brand == "mc2":
                pre, n = str(r.randrange(2221, 2721)) + "".join(r.choice("0123456789") for _ in range(2)), 16
            elif brand == "amex":
                pre, n = r.choice(["34", "37"]) + "".join(r.choice("0123456789") for _ in range(4)), 15
            elif brand == "discover":
                pre, n = "6011" + "".join(r.choice("0123456789") for _ in range(2)), 16
            elif brand == "jcb":
                pre, n = str(r.randrange(3528, 3590)) + "".join(r.choice("0123456789") for _ in range(2)), 16
            elif brand == "diners":
                pre, n = "36" + "".join(r.choice("0123456789") for _ in range(4)), 14
            else:
                raise KeyError(brand)
            body = pre + "".join(r.choice("0123456789") for _ in range(n - 1 - len(pre)))
            return luhn_complete(body)
        return self._fresh(mk)

    @staticmethod
    def card_format(d, sep):
        if len(d) == 15:
            groups = [d[:4], d[4:10], d[10:]]
        elif len(d) == 14:
            groups = [d[:4], d[4:10], d[10:]]
        else:
            groups = [d[i:i + 4] for i in range(0, 16, 4)]
        return sep.join(groups)

    # IBANs
    def iban(self, cc):
        r = self.rng

        def digits(n):
            return "".join(r.choice("0123456789") for _ in range(n))

        def letters(n):
            return "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(n))

        def mk():
            if cc == "DE":
                bban = digits(8) + digits(10)
            elif cc == "GB" or cc == "IE":
                bban = letters(4) + digits(6) + digits(8)
            elif cc == "FR":
                bank, branch, acct = digits(5), digits(5), digits(11)
                key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(acct)) % 97
                bban = bank + branch + acct + f"{key:02d}"
            elif cc == "ES":
                bank, branch, acct = digits(4), digits(4), digits(10)

                def dc(ds):
                    w = [1, 2, 4, 8, 5, 10, 9, 7, 3, 6]
                    x = 11 - sum(int(c) * w[i] for i, c in enumerate(ds)) % 11
                    return 0 if x == 11 else 1 if x == 10 else x
                bban = bank + branch + f"{dc('00' + bank + branch)}{dc(acct)}" + acct
            elif cc == "NL":
                while True:   # Dutch account numbers satisfy the 11-test
                    acct = digits(10)
                    if sum(int(c) * (10 - i) for i, c in enumerate(acct)) % 11 == 0 and acct[0] != "0":
                        break
                bban = letters(4) + acct
            elif cc == "IT":
                body = digits(5) + digits(5) + digits(12)
                odd = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
                total = sum(odd[int(c)] if i % 2 == 0 else int(c) for i, c in enumerate(body))
                bban = chr(65 + total % 26) + body
            elif cc == "BE":
                first10 = digits(10)
                chk = int(first10) % 97 or 97
                bban = first10 + f"{chk:02d}"
            elif cc == "CH":
                bban = digits(5) + digits(12)
            elif cc == "AT":
                bban = digits(5) + digits(11)
            else:
                raise KeyError(cc)
            return iban_from_bban(cc, bban)
        v = self._fresh(mk)
        assert iban_ok(v), v
        return v

    # IPs
    def ipv4(self, style):
        r = self.rng
        if style == "doc":
            return self._fresh(lambda: f"{r.choice(['192.0.2', '198.51.100', '203.0.113'])}.{r.randrange(2, 255)}")
        if style == "private":
            return self._fresh(lambda: r.choice([f"10.{r.randrange(0, 256)}.{r.randrange(0, 256)}.{r.randrange(2, 255)}",
                                                 f"172.{r.randrange(16, 32)}.{r.randrange(0, 256)}.{r.randrange(2, 255)}",
                                                 f"192.168.{r.randrange(0, 256)}.{r.randrange(2, 255)}"]))
        raise KeyError(style)

    def ipv6(self, style):
        r = self.rng

        def h():
            return f"{r.randrange(1, 0x10000):x}"
        if style == "doc":
            return self._fresh(lambda: str(ipaddress.IPv6Address(f"2001:db8:{h()}:{h()}::{h()}:{h()}")))
        if style == "linklocal":
            return self._fresh(lambda: str(ipaddress.IPv6Address(f"fe80::{h()}:{h()}:{h()}:{h()}")))
        raise KeyError(style)

    # URLs
    def url(self, style):
        r = self.rng
        slug = lambda: "-".join(r.sample(["caching", "release", "notes", "guide", "setup", "pricing", "api", "v2",
                                          "onboarding", "faq", "billing", "install", "security", "roadmap",
                                          "winter", "sale", "trail", "shoes", "styleguide", "checklist"], 2))
        hosts = ["docs.example.com", "blog.example.org", "portal.example.net", "shop.example.com", "intranet.example.org",
                 "status.example.com", "learn.example.net", "git.example.org"]
        if style == "https":
            return self._fresh(lambda: f"https://{r.choice(hosts)}/{slug()}")
        if style == "https_query":
            return self._fresh(lambda: f"https://{r.choice(hosts)}/{slug()}?ref=newsletter&lang=en")
        if style == "http":
            return self._fresh(lambda: f"http://{r.choice(hosts)}/{slug()}/index.html")
        if style == "www":
            return self._fresh(lambda: f"www.{r.choice(['example.com', 'example.org', 'example.net'])}/{slug()}")
        if style == "bare":
            return self._fresh(lambda: f"{r.choice(['example.com', 'example.org', 'example.net'])}/{slug()}")
        if style == "git":
            return self._fresh(lambda: f"https://git.example.org/platform/{slug()}.git")
        raise KeyError(style)

    # SSNs
    def ssn(self):
        r = self.rng

        def mk():
            while True:
                area = r.randrange(1, 900)
                if area == 666:
                    continue
                v = f"{area:03d}-{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}"
                if ssn_ok(v):
                    return v
        return self._fresh(mk)

    # bitcoin
    def btc(self, kind):
        r = self.rng

        def payload(n):
            return bytes(r.randrange(256) for _ in range(n))

        def mk():
            if kind == "p2pkh":
                return base58check(0, payload(20))
            if kind == "p2sh":
                return base58check(5, payload(20))
            if kind == "p2wpkh":
                return segwit_address(0, payload(20))
            if kind == "p2wsh":
                return segwit_address(0, payload(32))
            if kind == "p2tr":
                return segwit_address(1, payload(32))
            raise KeyError(kind)
        v = self._fresh(mk)
        assert btc_ok(v), v
        return v


# ----------------------------------------------------------------------------------------------------------------------
# PII positive templates. <<name>> placeholders; each template's `spec` maps a placeholder to a generator.
# Spec values: ("email", style) ("phone", style) ("card", brand, sep) ("iban", cc, "spaced"|"compact") ("ipv4", style)
# ("ipv6", style) ("url", style) ("ssn", "dash"|"space"|"plain") ("btc", kind) ("person", group, part) ("city",)
# ("country",) ("state",) ("fixed", TYPE or None, text). A ("person", g, part) placeholder shares one generated person
# per group g (parts: full, first, last, full_lower). Placeholders with the same ("same", name, fmt) reuse a value.

def T(instruction, inp, output, **spec):
    return {"instruction": instruction, "input": inp, "output": output, "spec": spec}


PII_TEMPLATES = [
    # ---- EMAIL_ADDRESS
    T("Extract every email address from the message below and return them as a comma-separated list.",
      "Hi team, please send the signed NDA to <<e1>> and copy <<e2>> so legal has a record. Thanks!",
      "<<e1>>, <<e2>>", e1=("email", "plus"), e2=("email", "sub")),
    T("Write a short, polite out-of-office reply.", "",
      "Thank you for your message. I am away until Monday with limited access to email. For urgent billing questions "
      "please contact <<p>> at <<e>>.", p=("person", 1, "full"), e=("email", "plain", 1)),
    T("Rewrite this note so it sounds more professional.",
      "hey its <<f>>, my new work email is <<e>> so use that from now on ok",
      "Hello, this is <<f>>. Please note that my new work email address is <<e>>; kindly use it for all future "
      "correspondence.", f=("person", 1, "first"), e=("email", "digits", 1)),
    T("Classify the following email as spam or not spam.",
      "From: <<e>>\nSubject: Your parcel is waiting\nClick the link below and pay the customs fee of 1.99 to release "
      "your delivery today.", "spam", e=("email", "underscore")),
    T("Create a contact card in JSON for the person described.",
      "<<p>> works as a data engineer in <<c>> and can be reached at <<e>>.",
      '{"name": "<<p>>", "city": "<<c>>", "email": "<<e>>"}', p=("person", 1, "full"), c=("city",),
      e=("email", "plain", 1)),
    T("Fix the formatting of this mailing-list entry.", "NAME:<<p>>  ;  MAIL:<<e>> ; CITY:<<c>>",
      "Name: <<p>>\nEmail: <<e>>\nCity: <<c>>", p=("person", 1, "full"), e=("email", "plus", 1), c=("city",)),
    T("Draft a one-line message asking a colleague to forward the quarterly report.", "",
      "Could you forward the Q3 report to <<e>> before Friday's review? Much appreciated.", e=("email", "role")),
    T("Summarise the customer's request in one sentence.",
      "Hello, I ordered a standing desk two weeks ago and it still hasn't shipped. Please update me at <<e>> or reply "
      "to this ticket. Regards, <<p>>",
      "<<p>> wants a shipping update on a standing desk ordered two weeks ago, sent to <<e>>.",
      p=("person", 1, "full"), e=("email", "sub", 1)),
    T("Is the following string a syntactically valid email address? Answer yes or no.", "<<e>>", "yes",
      e=("email", "plus")),
    T("Write a newsletter footer for a community garden.", "",
      "You are receiving this because you signed up at our spring open day. Questions about plots or compost? Write to "
      "<<e>>. To unsubscribe, reply with STOP.", e=("email", "role")),
    # ---- PHONE_NUMBER
    T("Extract the phone number from the text.", "For reservations call <<ph>> between 9am and 5pm, Tuesday to Sunday.",
      "<<ph>>", ph=("phone", "us_paren")),
    T("Write a voicemail greeting for a small bakery.", "",
      "You've reached the corner bakery. We're busy baking right now, so leave a message or call our order line at "
      "<<ph>> and we'll get back to you before the next batch is out of the oven.", ph=("phone", "us_dots")),
    T("Convert the phone number to E.164 format.", "<<a>>", "<<b>>", a=("same", "n1", "us_dash"),
      b=("same", "n1", "us_compact")),
    T("Reply to the guest and confirm the booking.",
      "Hi, this is <<p>>. Can you confirm my table for four on Saturday at 7pm? You can text me on <<ph>>.",
      "Hi <<f>>, your table for four is confirmed for Saturday at 7pm. We'll text <<ph>> if anything changes.",
      p=("person", 1, "full"), f=("person", 1, "first"), ph=("phone", "us_plus_dash")),
    T("Turn these details into a formal signature block.",
      "<<p>>, Senior Editor, office <<ph>>, switchboard <<ph2>>",
      "<<p>>\nSenior Editor\nOffice: <<ph>>\nSwitchboard: <<ph2>>", p=("person", 1, "full"),
      ph=("phone", "uk_london"), ph2=("phone", "uk_london_local")),
    T("Which country does this phone number belong to?", "<<ph>>", "<<k>> (country code +61).",
      ph=("phone", "au_mobile"), k=("fixed", "LOCATION", "Australia")),
    T("Write a text message reminding a patient about their appointment.", "",
      "Reminder: your dental check-up is tomorrow at 10:30. To reschedule, call <<ph>> and choose option 2.",
      ph=("phone", "au_landline")),
    T("Normalize the phone numbers in this list to the format XXX-XXX-XXXX.", "<<a1>>\n<<a2>>", "<<b1>>\n<<b2>>",
      a1=("same", "n1", "us_dots"), b1=("same", "n1", "us_dash"), a2=("same", "n2", "us_e164"),
      b2=("same", "n2", "us_dash")),
    T("Write a lost-and-found notice.", "",
      "Found: a blue umbrella with a wooden handle on the 8:15 train to <<c>>. If it's yours, call <<ph>> and describe "
      "the handle.", c=("city",), ph=("phone", "us_dash")),
    T("Summarize the support ticket.",
      "Customer <<p>> reports the router drops Wi-Fi every evening around 8pm. Best callback number: <<ph>>.",
      "The router drops Wi-Fi nightly; call <<p>> back on <<ph>>.", p=("person", 1, "full"),
      ph=("phone", "uk_manchester")),
    # ---- CREDIT_CARD
    T("Mask all but the last four digits of the card number.", "<<cc>>", "**** **** **** <<l4>>",
      cc=("card", "visa", " ", "l4")),
    T("Identify the card network from the number.", "<<cc>>", "American Express", cc=("card", "amex", " ")),
    T("Is this card number valid according to the Luhn algorithm?", "<<cc>>",
      "Yes, the final check digit matches the Luhn checksum of the other digits.", cc=("card", "mc", "-")),
    T("Write a polite email asking the customer to update their payment method.",
      "Card on file: <<cc>>, expired last month. Customer: <<p>>.",
      "Dear <<f>>, the card ending in <<l4>> that we have on file has expired. Please update your payment method in "
      "your account settings so your subscription continues without interruption.",
      cc=("card", "visa", "", "l4"), p=("person", 1, "full"), f=("person", 1, "first")),
    T("Extract the payment details as key-value pairs.", "Paid with <<cc>> on behalf of <<p>>.",
      "card_number: <<cc>>\ncardholder: <<p>>", cc=("card", "discover", " "), p=("person", 1, "full")),
    T("Explain why you should not paste a full card number into a chat.",
      "my card is <<cc>> can you book the flight for me",
      "Sharing a full card number in a chat exposes you to fraud: anyone who can read the conversation could use it. "
      "Please enter it on the secure payment page instead.", cc=("card", "jcb", " ")),
    T("Translate the sentence into Spanish.", "Please charge the deposit to card <<cc>>.",
      "Por favor, cargue el depósito a la tarjeta <<cc>>.", cc=("card", "mc2", "")),
    T("Redact sensitive data from the log line.",
      "2023-11-02 14:07:13 INFO payment accepted card=<<cc>> amount=120.00 currency=EUR",
      "2023-11-02 14:07:13 INFO payment accepted card=[REDACTED] amount=120.00 currency=EUR",
      cc=("card", "diners", " ")),
    T("Write the customer's order summary.", "Order for <<p>>: 2 concert tickets, paid with <<cc>>.",
      "<<p>> bought two concert tickets and paid by American Express.", p=("person", 1, "full"),
      cc=("card", "amex", "-")),
    T("Does this chat message contain sensitive financial information? Answer and explain briefly.",
      "sure, it's <<cc>>, exp 09/27, cvv is on the back",
      "Yes. It contains a full payment card number together with its expiry date.", cc=("card", "visa", "-")),
    # ---- IBAN_CODE
    T("Validate the IBAN and name its country.", "<<ib>>",
      "The IBAN is valid (the mod-97 check succeeds) and belongs to a German bank account.",
      ib=("iban", "DE", "spaced")),
    T("Write a payment instruction for the supplier.",
      "Supplier: Northwind Traders, IBAN <<ib>>, amount EUR 1,250",
      "Please transfer EUR 1,250 to Northwind Traders, IBAN <<ib>>, by the end of the month.",
      ib=("iban", "GB", "compact")),
    T("Extract the bank details.", "Veuillez virer le montant sur le compte <<ib>> au nom de <<p>>.",
      "IBAN: <<ib>>\nAccount holder: <<p>>", ib=("iban", "FR", "spaced"), p=("person", 1, "full")),
    T("Format the IBAN in groups of four characters.", "<<a>>", "<<b>>", a=("same", "es", "iban_compact"),
      b=("same", "es", "iban_spaced")),
    T("Write a rent reminder to a tenant.", "",
      "Hi <<f>>, a friendly reminder that rent is due on the 1st. Please transfer it to <<ib>> as usual. Thanks!",
      f=("person", 1, "first"), ib=("iban", "NL", "spaced")),
    T("Summarize the invoice.",
      "Invoice 2024-117. Services: translation, 12 pages. Total: EUR 480. Pay to IBAN <<ib>> within 30 days.",
      "Invoice 2024-117 is for 12 pages of translation, EUR 480, payable within 30 days to <<ib>>.",
      ib=("iban", "IT", "compact")),
    T("Is it safe to post this in a public forum?", "My IBAN is <<ib>>, can someone send me the refund?",
      "No. Posting a bank account number publicly invites fraud and phishing; send it privately to the company's "
      "support team instead.", ib=("iban", "BE", "spaced")),
    T("Create a markdown table row for this payee.", "<<p>>, <<c>>, <<ib>>", "| <<p>> | <<c>> | <<ib>> |",
      p=("person", 1, "full"), c=("city",), ib=("iban", "CH", "spaced")),
    T("Rewrite the message in a more formal tone.", "send the deposit to <<ib>> asap pls",
      "Kindly transfer the deposit to <<ib>> at your earliest convenience.", ib=("iban", "AT", "compact")),
    T("Which field is missing from this SEPA transfer?", "Beneficiary: <<p>>\nIBAN: <<ib>>\nAmount: EUR 75.00",
      "The payment reference is missing; the beneficiary, IBAN and amount are all present.",
      p=("person", 1, "full"), ib=("iban", "IE", "spaced")),
    # ---- IP_ADDRESS
    T("Extract all IP addresses from the log.",
      "Failed password for admin from <<i1>> port 52814 ssh2\nAccepted publickey for deploy from <<i2>> port 40022 ssh2",
      "<<i1>>\n<<i2>>", i1=("ipv4", "doc"), i2=("ipv4", "doc")),
    T("Is this an IPv4 or an IPv6 address?", "<<i>>", "IPv6", i=("ipv6", "doc")),
    T("Write an iptables rule that blocks the given address.", "<<i>>", "iptables -A INPUT -s <<i>> -j DROP",
      i=("ipv4", "doc")),
    T("Explain what this nginx configuration line does.", "allow <<i>>;",
      "It lets requests from the single client address <<i>> through the access check; other addresses fall through "
      "to the next rule.", i=("ipv4", "private")),
    T("Expand the compressed IPv6 address to its full form.", "<<a>>", "<<b>>", a=("same", "v6", "ipv6_short"),
      b=("same", "v6", "ipv6_full")),
    T("Summarize the security alert.",
      "Multiple login attempts for user <<p>> were detected from <<i>> between 02:00 and 02:15.",
      "Suspicious overnight logins on <<p>>'s account came from <<i>>.", p=("person", 1, "full"), i=("ipv4", "doc")),
    T("Write a short message telling a colleague which server to connect to.", "",
      "The staging box is <<i>>; connect over SSH as the deploy user, the key is in the shared vault.",
      i=("ipv4", "private")),
    T("Which of these addresses is private?", "<<i1>>, <<i2>>",
      "<<i1>> is in a private range; <<i2>> is a public (documentation) address.", i1=("ipv4", "private"),
      i2=("ipv4", "doc")),
    T("Convert the text into a hosts-file entry.", "Map the name buildbox to <<i>>", "<<i>>    buildbox",
      i=("ipv6", "doc")),
    T("What kind of IPv6 address is this?", "<<i>>",
      "A link-local address: it starts with fe80 and is only valid on the local network segment.",
      i=("ipv6", "linklocal")),
    # ---- URL
    T("Extract the URL from the tweet.", "New post on caching strategies is live: <<u>> #devops", "<<u>>",
      u=("url", "https")),
    T("Write an HTML anchor tag linking to the page.", "<<u>>", '<a href="<<u>>">Read more</a>',
      u=("url", "https_query")),
    T("Is this link using a secure connection?", "<<u>>",
      "No. It uses plain HTTP, so traffic to that page is not encrypted.", u=("url", "http")),
    T("Write a one-line announcement for the new documentation site.", "",
      "Our new docs are live at <<u>>, with guides for every endpoint.", u=("url", "www")),
    T("Shorten this sentence.",
      "If you would like to learn more about the program and all of the benefits it offers, please visit <<u>> at "
      "your convenience.", "Learn more at <<u>>.", u=("url", "bare")),
    T("Create a markdown list of resources.", "style guide: <<u1>>; onboarding checklist: <<u2>>",
      "- [Style guide](<<u1>>)\n- [Onboarding checklist](<<u2>>)", u1=("url", "https"), u2=("url", "www")),
    T("Which part of this URL is the query string?", "<<u>>", "ref=newsletter&lang=en", u=("url", "https_query")),
    T("Rewrite the event invitation to be more exciting.",
      "The workshop is on Thursday in <<c>>. Register at <<u>>.",
      "Join us this Thursday in <<c>> for a hands-on workshop! Grab your spot at <<u>> before it fills up.",
      c=("city",), u=("url", "https")),
    T("Classify the link as documentation, shopping, or news.", "<<u>>", "shopping",
      u=("fixed", "URL", "https://shop.example.com/products/trail-running-shoes?size=42")),
    T("Write a git command to add a remote.", "remote name: upstream, address: <<u>>",
      "git remote add upstream <<u>>", u=("url", "git")),
    # ---- US_SSN
    T("Redact the social security number from the form.",
      "Applicant: <<p>>\nSSN: <<s>>\nPosition: warehouse associate",
      "Applicant: <<p>>\nSSN: [REDACTED]\nPosition: warehouse associate", p=("person", 1, "full"), s=("ssn", "dash")),
    T("Is it safe to email this to HR?", "my social security number is <<s>> and my employee id is E-44120",
      "Sending your SSN by plain email is risky; upload it through the HR portal's secure form instead.",
      s=("ssn", "dash")),
    T("Extract the fields as JSON.", "Name: <<p>>; SSN <<s>>; State: <<st>>",
      '{"name": "<<p>>", "ssn": "<<s>>", "state": "<<st>>"}', p=("person", 1, "full"), s=("ssn", "space"),
      st=("state",)),
    T("Write a reminder for the tax client.", "Client SSN on file: <<s>>",
      "Please bring your W-2 forms and last year's return to the appointment; we already have SSN <<s>> on file.",
      s=("ssn", "dash")),
    T("Find the error in this payroll record.",
      "Employee: <<p>> | SSN: <<s>> | Hours: 42 | Rate: 18.50 | Gross: 700.00",
      "Gross pay should be 777.00 (42 x 18.50), not 700.00.", p=("person", 1, "full"), s=("ssn", "dash")),
    T("Format the social security number with dashes.", "SSN <<a>>", "<<b>>", a=("same", "s1", "ssn_plain"),
      b=("same", "s1", "ssn_dash")),
    T("Summarize the phone call notes.",
      "Caller <<p>> asked to update their mailing address. Identity verified with SSN <<s>> and date of birth.",
      "<<p>> called to change their mailing address; their identity was verified.", p=("person", 1, "full"),
      s=("ssn", "dash")),
    T("Translate to Spanish.", "My Social Security number is <<s>>.", "Mi número de Seguro Social es <<s>>.",
      s=("ssn", "dash")),
    T("Classify the document type.",
      "FORM W-4 (2023)\nEmployee's social security number: <<s>>\nFiling status: single",
      "A federal tax withholding form (W-4).", s=("ssn", "dash")),
    # ---- CRYPTO
    T("Validate this Bitcoin address and tell me its type.", "<<b>>",
      "It is a valid legacy P2PKH address: it starts with 1 and its Base58Check checksum matches.",
      b=("btc", "p2pkh")),
    T("Write a donation note for the project's README.", "",
      "If this tool saved you time, consider a donation to our Bitcoin wallet: <<b>>. Thank you!",
      b=("btc", "p2wpkh")),
    T("Extract the wallet addresses from the chat.",
      "send the 0.05 BTC to <<b1>>. if that fails use my segwit one <<b2>>", "<<b1>>\n<<b2>>",
      b1=("btc", "p2pkh"), b2=("btc", "p2wpkh")),
    T("Explain the difference between these two address formats.", "<<b1>> and <<b2>>",
      "The first is a P2SH address (Base58Check, starts with 3); the second is a native SegWit v0 script address "
      "(Bech32, starts with bc1q).", b1=("btc", "p2sh"), b2=("btc", "p2wsh")),
    T("Rewrite this message so it does not sound like a scam.", "URGENT!!! send btc to <<b>> NOW to unlock your prize",
      "If you would like to support us, you can send bitcoin to <<b>>. There is no deadline and no prize involved.",
      b=("btc", "p2wpkh")),
    T("Which address type is this?", "<<b>>", "A Taproot (SegWit v1) address, encoded with Bech32m.",
      b=("btc", "p2tr")),
    T("Summarize the withdrawal request.", "Customer <<p>> wants to withdraw 0.3 BTC to <<b>>.",
      "<<p>> requests a 0.3 BTC withdrawal to <<b>>.", p=("person", 1, "full"), b=("btc", "p2pkh")),
    T("Create a label for a payment QR code.", "<<b>>", "Scan to pay: bitcoin:<<b>>", b=("btc", "p2tr")),
    T("Is it a good idea to reuse this address for every payment?", "My address: <<b>>",
      "No. Reusing one address links all your payments together; generate a fresh receiving address for each payment.",
      b=("btc", "p2sh")),
    # ---- PERSON
    T("Write a short bio for the conference speaker.", "<<p>>, structural engineer, 12 years designing footbridges",
      "<<p>> is a structural engineer who has spent twelve years designing footbridges.", p=("person", 1, "full")),
    T("Write a thank-you note to a mentor.", "mentor: <<p>>, helped me prepare for my first code review",
      "Dear <<f>>, thank you for the hours you spent helping me prepare for my first code review. Your patience made "
      "a real difference.", p=("person", 1, "full"), f=("person", 1, "first")),
    T("Who is mentioned in the sentence?", "Yesterday <<p1>> handed the project over to <<p2>>.",
      "<<p1>> and <<p2>>", p1=("person", 1, "full"), p2=("person", 2, "full")),
    T("Correct the capitalization in the sentence.", "<<l1>> met <<l2>> at the robotics fair last spring.",
      "<<p1>> met <<p2>> at the robotics fair last spring.", l1=("person", 1, "full_lower"),
      p1=("person", 1, "full"), l2=("person", 2, "full_lower"), p2=("person", 2, "full")),
    T("Write a birthday message for a coworker.", "coworker: <<f>>, loves hiking and bad puns",
      "Happy birthday, <<f>>! May your trails be scenic and your puns be terrible. Cake is in the break room!",
      f=("person", 1, "first")),
    # ---- LOCATION
    T("Plan a two-day itinerary.", "<<c>>, <<k>>",
      "Day 1: walk the old town of <<c>>, visit the central market and finish with dinner by the water. Day 2: take a "
      "morning food tour, then spend the afternoon in a museum before a sunset viewpoint.",
      c=("fixed", "LOCATION", "Tallinn"), k=("fixed", "LOCATION", "Estonia")),
    T("Which city is farther north?", "<<a>> or <<b>>", "<<a>> is farther north.",
      a=("fixed", "LOCATION", "Bergen"), b=("fixed", "LOCATION", "Lisbon")),
    T("Write a weather summary for the morning radio show.", "<<c>>: 14°C, light rain, wind 20 km/h",
      "Expect a cool, damp morning in <<c>>: light rain, 14 degrees and a fresh breeze. Bring an umbrella!",
      c=("city",)),
    T("Name the country this city is in.", "<<c>>", "<<k>>", c=("fixed", "LOCATION", "Valparaíso"),
      k=("fixed", "LOCATION", "Chile")),
    T("Write a shipping notification.", "",
      "Good news! Your package left our warehouse in <<c1>> this morning and will arrive in <<c2>> within three "
      "business days.", c1=("city",), c2=("city",)),
    T("Translate to French.", "I lived in <<c>> for three years before moving to <<st>>.",
      "J'ai vécu à <<c>> pendant trois ans avant de déménager dans l'<<st>>.", c=("fixed", "LOCATION", "Porto"),
      st=("fixed", "LOCATION", "Ohio")),
]


# ----------------------------------------------------------------------------------------------------------------------
# PII hard negatives: (instruction, input, output, trap description, trap strings that look like PII on purpose)

def pii_hard_negatives(rng):
    def luhn_bad(prefix, n):
        while True:
            body = prefix + "".join(rng.choice("0123456789") for _ in range(n - len(prefix)))
            if not luhn_ok(body):
                return body

    def wrong_iban(cc, gen):
        good = gen.iban(cc)
        chk = int(good[2:4])
        bad = f"{good[:2]}{(chk + 1 + rng.randrange(0, 90)) % 97 + 2:02d}{good[4:]}"
        assert not iban_ok(bad)
        return bad

    g = Gen(random.Random(rng.random()))
    tr1 = luhn_bad("4", 16)
    tr2 = luhn_bad("5", 16)
    tr3 = luhn_bad("4417", 16)
    tr4 = luhn_bad("112", 17)
    bad_de = wrong_iban("DE", g)
    bad_gb = wrong_iban("GB", g)
    isbn = isbn13_complete("978" + "".join(rng.choice("0123456789") for _ in range(9)))
    isbn_fmt = f"{isbn[:3]}-{isbn[3]}-{isbn[4:7]}-{isbn[7:12]}-{isbn[12]}"
    good_btc = g.btc("p2pkh")
    i = 5 + rng.randrange(0, 20)
    bad_btc = good_btc[:i] + ("2" if good_btc[i] != "2" else "3") + good_btc[i + 1:]
    assert not btc_ok(bad_btc)
    uuid = "-".join("".join(rng.choice("0123456789abcdef") for _ in range(n)) for n in (8, 4, 4, 4, 12))
    sha = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    a, b = 48213, 7719
    return [
        ("What kind of number is this most likely to be?", f"Tracking number: {spaced4(tr1)}",
         "A parcel tracking number from a courier.", "pii: 16-digit tracking number starting with 4 that fails the Luhn "
         "check (not a card)", [spaced4(tr1)]),
        ("Rewrite the sentence more politely.", f"give me the gift voucher {'-'.join(spaced4(tr2).split())} now",
         f"Could you please send me gift voucher {'-'.join(spaced4(tr2).split())}?",
         "pii: 16-digit voucher code with card-like grouping, Luhn-invalid", ['-'.join(spaced4(tr2).split())]),
        ("Extract the part number.", f"Replacement filter, part no. {tr3}, fits models A2 and A3.", tr3,
         "pii: 16-digit part number, Luhn-invalid", [tr3]),
        ("Summarize the order status.", f"Order #{tr4[:3]}-{tr4[3:10]}-{tr4[10:]} shipped on Tuesday.",
         f"Order {tr4[:3]}-{tr4[3:10]}-{tr4[10:]} has shipped.", "pii: 17-digit order number (3-7-7 grouping)",
         [f"{tr4[:3]}-{tr4[3:10]}-{tr4[10:]}"]),
        ("Which version should I install?",
         "The changelog lists versions 1.2.3.4 and 1.2.3.5; the second one fixes the memory leak.",
         "Install version 1.2.3.5, since it contains the memory-leak fix.",
         "pii: four-part version strings that parse as IPv4 addresses", ["1.2.3.4", "1.2.3.5"]),
        ("Explain the firmware string.", "firmware 3.14.2.201 (stable channel)",
         "It is firmware release 3.14.2.201 from the stable update channel.",
         "pii: dotted firmware version that parses as an IPv4 address", ["3.14.2.201"]),
        ("Where is the rule described?", "See section 2.4.1.3 of the building standard for stair widths.",
         "Section 2.4.1.3 of the building standard.", "pii: dotted section number that parses as an IPv4 address",
         ["2.4.1.3"]),
        ("Why is this not a valid IP address?", "256.300.1.1",
         "Each of the four numbers in an IPv4 address must be between 0 and 255; 256 and 300 are out of range.",
         "pii: dotted quad with out-of-range octets (not an IP)", []),
        ("Convert the dates to ISO 8601.", "The invoice is dated 03/15/2024 and due on 14.04.2024.",
         "2024-03-15 and 2024-04-14", "pii: dates in several formats", []),
        ("Cite the book in APA style.", f"Title: Practical Soil Science; Publisher: Greenleaf Press; Year: 2019; "
         f"ISBN {isbn_fmt}", f"Practical soil science (2019). Greenleaf Press. ISBN {isbn_fmt}",
         "pii: ISBN-13 (long digit run with dashes)", [isbn_fmt]),
        ("Compute the product.", f"{a} x {b}", f"{a} x {b} = {a * b}",
         "pii: 9-digit arithmetic result that fits the SSN pattern", [str(a * b)]),
        ("What is 2 to the power of 64?", "", "2^64 = 18446744073709551616",
         "pii: 20-digit number (math)", ["18446744073709551616"]),
        ("Why does the bank form reject this IBAN?", spaced4(bad_de),
         "The two check digits after the country code do not match the rest of the number, so the IBAN fails the "
         "mod-97 check; there is probably a typo.", "pii: German IBAN-shaped string with wrong check digits",
         [spaced4(bad_de)]),
        ("Is this a valid IBAN? Answer yes or no.", bad_gb, "no",
         "pii: UK IBAN-shaped string with wrong check digits", [bad_gb]),
        ("Find the product in the catalogue.", "SKU 884-12-0931, ceramic mug, 350 ml",
         "Ceramic mug, 350 ml (SKU 884-12-0931).", "pii: product code in SSN layout with SKU context",
         ["884-12-0931"]),
        ("What does the badge number tell you?", "Visitor badge 000-12-3456, valid for one day",
         "It is a one-day visitor badge; the number only identifies the badge.",
         "pii: SSN-shaped badge number with area 000 (never a valid SSN)", ["000-12-3456"]),
        ("Read the ticket reference aloud.", "Ticket 912-45-1234", "Ticket nine one two, four five, one two three four.",
         "pii: SSN-shaped ticket number with area 9xx (never a valid SSN)", ["912-45-1234"]),
        ("Summarize the model card.", "The model has 1,234,567,890 parameters and was trained for 300,000 steps.",
         "A model with about 1.2 billion parameters, trained for 300k steps.",
         "pii: 10-digit number with thousands separators (not a phone)", ["1,234,567,890"]),
        ("Give directions to the picnic spot.", "",
         "Walk past the bank, cross the bridge over the river, turn left at the park gate and follow the path to the "
         "old mill by the lake.", "pii: place-like common nouns (bank, bridge, park, mill, lake)", []),
        ("Describe the neighbourhood in one sentence.", "",
         "It is a quiet area downtown, a few blocks from the harbor, with a market square, a library and a small "
         "church on the hill.", "pii: place-like common nouns (downtown, harbor, market square, hill)", []),
        ("Correct the grammar.", "will you mark the dates in may and june when the rose bushes bloom",
         "Will you mark the dates in May and June when the rose bushes bloom?",
         "pii: lowercase words that are also first names (will, mark, may, june, rose)", []),
        ("Rewrite the note as a to-do list.",
         "pay the gas bill, jack up the car and check the spare tire, tell the landlord we will sue if the heating "
         "stays broken, say grace before dinner",
         "- Pay the gas bill\n- Jack up the car and check the spare tire\n- Tell the landlord we will sue if the "
         "heating stays broken\n- Say grace before dinner",
         "pii: lowercase common words that are also first names (bill, jack, sue, grace) used as nouns and verbs", []),
        ("Plan a simple lunch menu.", "",
         "Starter: Brussels sprouts with lemon. Main: a turkey sandwich with Swiss cheese and French fries. Dessert: "
         "Danish pastries.", "pii: place names inside food names (Brussels sprouts, turkey, Swiss, French, Danish)",
         []),
        ("Write a sentence using the word 'china'.", "",
         "She kept the good china in the glass cabinet and only used it at holidays.",
         "pii: 'china' meaning porcelain, not the country", []),
        ("Name three dishes named after people.", "", "Eggs Benedict, Caesar salad and Victoria sponge.",
         "pii: dish names containing personal names (not references to people)", []),
        ("Suggest fonts for a wedding invitation.", "",
         "Use Georgia for the body text, Garamond for the names line and a light script for the headings.",
         "pii: font names that are also a place (Georgia) and a surname (Garamond)", []),
        ("Recommend a pair of running shoes.", "", "Try the Nike Pegasus or the Jordan Zoom; both have good cushioning "
         "for road running.", "pii: brand and product names that look like a person or place (Jordan, Pegasus)", []),
        ("Explain the placeholder in the command.", "ssh user@hostname",
         "Replace user with your login name and hostname with the server's name.",
         "pii: user@hostname placeholder (not an email address)", ["user@hostname"]),
        ("Which files do I need to edit?", "",
         "Open config.yaml, then settings.py and setup.sh; the ASP.NET sample and the Node.js script do not need "
         "changes.", "pii: file names and framework names that end in a country TLD or .NET (not URLs)",
         ["settings.py", "setup.sh", "ASP.NET", "Node.js", "config.yaml"]),
        ("What does this line of Python do?", "x = os.path.join(base, 'data.csv')",
         "It builds a file path by joining the base directory and data.csv.",
         "pii: dotted Python names and a file name (not URLs)", ["os.path.join", "data.csv"]),
        ("Why does my wallet app reject this address?", bad_btc,
         "One character is wrong, so the Base58Check checksum no longer matches; copy the address again instead of "
         "typing it.", "pii: legacy Bitcoin-address-shaped string with a broken checksum", [bad_btc]),
        ("What is this string?", f"commit {sha}", "A 40-character hexadecimal git commit hash.",
         "pii: git commit hash (hex string, not a wallet)", [sha]),
        ("What is this identifier?", f"request_id={uuid}", "A random UUID used to trace a request.",
         "pii: UUID", [uuid]),
        ("What is this hardware identifier?", "00:1A:2B:3C:4D:5E",
         "A MAC address identifying a network interface.", "pii: MAC address (colon-separated hex, not IPv6)",
         ["00:1A:2B:3C:4D:5E"]),
        ("Mask the card number in the receipt.", "Card: **** **** **** 4242, amount 18.90",
         "Card: **** **** **** 4242, amount 18.90 (already masked).", "pii: already-masked card number", []),
        ("Is this a full social security number?", "XXX-XX-6789",
         "No, only the last four digits are shown; the rest is masked.", "pii: masked SSN (last four digits only)",
         []),
        ("Create a serial number label.", "", "Serial: SN-20231104-0087 | Batch: 7/12 | Made on line 3",
         "pii: serial number with embedded date", ["20231104-0087"]),
        ("Convert the time to 24-hour format.", "The call is at 4:30 pm and ends at 5:15 pm.", "16:30 and 17:15",
         "pii: times", []),
        ("Find the next number in the sequence.", "2, 4, 8, 16, 32, 64, 128, 256, 512",
         "1024, because each number doubles the previous one.", "pii: long comma-separated number sequence", []),
        ("Explain the error code.", "E-4402-17: sensor timeout on channel 3",
         "Error E-4402-17 means the sensor on channel 3 did not answer in time.", "pii: error code with digit groups",
         []),
    ]


# ----------------------------------------------------------------------------------------------------------------------
# Near-duplicate hard negatives: same instruction as a base row, different content (base id, input, output)

NEAR_DUP_NEGATIVES = [
    ("user_oriented_task_2", "me and him was going to the libary yesterday but it were closed so we goes home and "
     "watched a film instead",
     "He and I were going to the library yesterday, but it was closed, so we went home and watched a film instead."),
    ("user_oriented_task_22", "the results were _surprising to everyone",
     "+ the results were unexpected to everyone\n+ the results were astonishing to everyone\n+ the results were "
     "startling to everyone\n+ the results came as a shock to everyone"),
    ("user_oriented_task_50", "sourdough starter",
     "how to make a sourdough starter\nsourdough starter feeding schedule\nwhy is my sourdough starter not rising\n"
     "sourdough starter with whole wheat flour\ndiscard recipes"),
    ("user_oriented_task_104", "Emergency Room Nurse",
     "- Staying calm under pressure\n- Making quick decisions\n- Empathy for frightened patients\n- Stamina for long "
     "shifts"),
    ("user_oriented_task_139", "The Left Hand of Darkness", "Science Fiction"),
    ("user_oriented_task_151", "gather", "blather, lather, rather, slather, together (near rhyme)"),
    ("user_oriented_task_158", "Thanks for staying late to help me fix the printer, I owe you one.",
     "not offensive"),
    ("user_oriented_task_171", "Lighthouse Keeper",
     "A lighthouse keeper tends the light and its machinery, keeps the lenses clean, records the weather, and helps "
     "with rescues when ships get into trouble near the coast."),
    ("user_oriented_task_198", "Urban gardening",
     "container selection, soil mixes, vertical growing, rooftop beds, watering schedules, composting in small "
     "spaces, pest control, community plots"),
    ("user_oriented_task_220", "Nobody really knows why so many bees are disappearing.",
     "The causes of the widespread decline in bee populations remain poorly understood."),
    ("user_oriented_task_240", "The comittee will definately recieve the report tommorow morning.",
     "The committee will definitely receive the report tomorrow morning."),
    ("user_oriented_task_241", "generous", "stingy, miserly, selfish, tight-fisted, ungenerous"),
    ("seed_task_7", "bite the bullet",
     "Meaning: to force yourself to do something unpleasant that you have been avoiding. Example: I hate going to "
     "the dentist, but I finally bit the bullet and booked an appointment."),
    ("seed_task_8", "lantern", "Paper lantern sways\nA small moon held on a string\nMoths circle, hoping"),
    ("seed_task_38", "quickly", "rapidly, swiftly, speedily, hastily, briskly, promptly"),
    ("seed_task_43", "We need to acommodate three more guests at the wedding dinner.",
     "acommodate -> accommodate."),
    ("seed_task_54", "librarian",
     "The stereotype is that librarians are quiet, strict about silence, and spend their days shushing people, when "
     "in fact much of the job is research support and technology help."),
    ("seed_task_97", "Our app crashed a bunch of times last week, sorry about that.",
     "We apologize for the repeated application outages that occurred last week."),
    ("seed_task_157", "The hotel room was spotless, but the breakfast was cold and overpriced.", "mixed"),
    ("user_oriented_task_246", "The storm knocked out the power.",
     "Late in the evening the storm tore through the valley, snapping branches onto the lines and plunging every "
     "house on our street into darkness for two long days."),
    ("seed_task_132", "List: [7, -12, 33, 0, 58, 19, 2]", "[-12, 0, 2, 7, 19, 33, 58]"),
]


# ----------------------------------------------------------------------------------------------------------------------
# Benchmark contamination positives: (benchmark, id, form, entities [(TYPE, text)] occurring in question/answer)

CONTAM = [
    ("commonsenseqa", "b8c0a4703079cf661d7261a60a1bcbff", "mc_format", []),
    ("commonsenseqa", "e68fb2448fd74e402aae9982aa76e527", "verbatim", []),
    ("commonsenseqa", "9889e5389917d812c09d6e5d382d333d", "prefix", []),
    ("commonsenseqa", "8d1563697d751a364d688d6701ebdb39", "case_punct", []),
    ("commonsenseqa", "ec79ef747bb89281923edb89ba26786d", "embedded", []),
    ("commonsenseqa", "46bc1a50eeead10509a43a048e01194e", "mc_format", []),
    ("commonsenseqa", "1531f1523f5fd24bbdb42c311dbf90e8", "input_field", []),
    ("commonsenseqa", "c592258c88295756833e9796e881057b", "output_field", []),
    ("commonsenseqa", "f372587fa4c99d5bebf0d0eb987c44e2", "case_punct", []),
    ("commonsenseqa", "d35a8a3bd560fdd651ecf314878ed30f", "prefix", []),
    ("gsm8k", "gsm8k-test-67", "math_input", []),
    ("gsm8k", "gsm8k-test-84", "verbatim", []),
    ("gsm8k", "gsm8k-test-141", "math_input", []),
    ("gsm8k", "gsm8k-test-170", "embedded", []),
    ("gsm8k", "gsm8k-test-191", "case_punct", []),
    ("gsm8k", "gsm8k-test-365", "prefix", []),
    ("gsm8k", "gsm8k-test-387", "math_input", []),
    ("gsm8k", "gsm8k-test-421", "embedded", []),
    ("gsm8k", "gsm8k-test-18", "math_input", [("PERSON", "Claire")]),
    ("gsm8k", "gsm8k-test-200", "prefix", [("PERSON", "Baldur")]),
    ("triviaqa", "sfq_15643", "verbatim", []),
    ("triviaqa", "jp_3095", "prefix", []),
    ("triviaqa", "qw_16174", "embedded", []),
    ("triviaqa", "bt_2646", "output_field", []),
    ("triviaqa", "sfq_4426", "case_punct", []),
    ("triviaqa", "jp_2211", "input_field", []),
    ("triviaqa", "qw_5977", "embedded", []),
    ("triviaqa", "sfq_18192", "prefix", [("LOCATION", "France"), ("PERSON", "Edward the Fourth")]),
    ("triviaqa", "sfq_1833", "case_punct", []),
    ("squad", "56e120a1e3433e1400422c3b", "verbatim", []),
    ("squad", "571cc6f85efbb31900334de4", "embedded", []),
    ("squad", "5706111a52bb89140068984d", "case_punct", []),
    ("squad", "56e751fb00c9c71400d76fa9", "input_field", []),
    ("squad", "57114dfb50c2381900b54a55", "prefix", []),
    ("squad", "573380e0d058e614000b5bea", "output_field", [("LOCATION", "Poland")]),
    ("squad", "57338007d058e614000b5bde", "embedded", [("LOCATION", "Warsaw")]),
    ("strategyqa", "b923b0639ec816a029f3", "verbatim", []),
    ("strategyqa", "7984476fb6d7b9150f68", "case_punct", []),
    ("strategyqa", "62f07dc96e27133bf987", "prefix", []),
    ("strategyqa", "4f802258689c224665cb", "embedded", []),
    ("strategyqa", "2bc9c4f9c19c167187f2", "input_field",
     [("PERSON", "Genghis Khan"), ("PERSON", "Julius Caesar")]),
    ("strategyqa", "eb34d15122ae38b51757", "verbatim", []),
    ("strategyqa", "50e89d5c8cb95848e909", "case_punct", []),
    ("bamboogle", "bamboogle-0", "embedded", [("LOCATION", "United States"), ("PERSON", "James Madison")]),
    ("bamboogle", "bamboogle-36", "prefix", [("LOCATION", "New Delhi")]),
    ("bamboogle", "bamboogle-12", "case_punct", []),
    ("bamboogle", "bamboogle-19", "verbatim", []),
    ("bamboogle", "bamboogle-63", "input_field", []),
    ("bamboogle", "bamboogle-46", "verbatim", [("PERSON", "George Washington"), ("PERSON", "Lawrence Washington")]),
    ("hotpotqa", "5a7bbb64554299042af8f7cc", "prefix", [("PERSON", "Annie Morton"), ("PERSON", "Terry Richardson")]),
    ("hotpotqa", "5ae73acb5542991e8301cc07", "embedded", []),
    ("hotpotqa", "5ab978855542996be2020512", "case_punct", []),
    ("hotpotqa", "5a8ef2a75542995a26add583", "input_field", [("LOCATION", "France")]),
    ("hotpotqa", "5a7d54165542995f4f402256", "verbatim",
     [("LOCATION", "Dirleton"), ("LOCATION", "East Lothian"), ("LOCATION", "Scotland"), ("LOCATION", "Yellowcraig")]),
]

# Answers written into outputs where the stored first answer is lower-case or awkward.
ANSWER_OVERRIDES = {"bamboogle-0": "James Madison", "sfq_4426": "relative pressure (the pressure of a gas or liquid)",
                    "jp_2211": "A base (or alkali).", "sfq_15643": "High blood pressure (hypertension)."}

# Contamination hard negatives: (instruction, input, output, trap, entities [(TYPE, text)])
CONTAM_NEGATIVES = [
    ("Who was president of the United States in the year that the first transcontinental railroad was completed?",
     "", "The railroad was completed in 1869, early in the term of the 18th president.",
     "contamination: same opening words as bamboogle-0, different question", [("LOCATION", "United States")]),
    ("What is the capital of the country where sushi originated?", "",
     "Sushi developed in Japan, and its capital is Tokyo.",
     "contamination: template of bamboogle-36 with another dish (different question)",
     [("LOCATION", "Japan"), ("LOCATION", "Tokyo")]),
    ("What is the capital of Mongolia?", "", "Ulaanbaatar.",
     "contamination: 'What is the capital of ...' for a country in no benchmark question",
     [("LOCATION", "Mongolia"), ("LOCATION", "Ulaanbaatar")]),
    ("Quick geography check: what is the capital of Uruguay, and what river is it on?", "",
     "Montevideo, on the Río de la Plata estuary.",
     "contamination: 'what is the capital of ...' inside a longer question, country in no benchmark question",
     [("LOCATION", "Uruguay"), ("LOCATION", "Montevideo"), ("LOCATION", "Río de la Plata")]),
    ("Where would you find magazines at an airport?", "", "At a newsstand near the departure gates.",
     "contamination: same first words as a CommonsenseQA question (magazines), different question", []),
    ("Where are you likely to find a vending machine in a hospital?", "",
     "Usually in the main lobby or next to the waiting areas.",
     "contamination: same frame as CommonsenseQA 'Where are you likely to find a hamburger?'", []),
    ("Marco's hens lay 11 eggs per day. He eats two for breakfast every morning and uses five to bake bread. He sells "
     "the rest at the village market for $3 each. How much does he earn every day?", "",
     "11 - 2 - 5 = 4 eggs are left, and 4 x $3 = $12 per day.",
     "contamination: word problem built on the template of GSM8K test-0 (Janet's ducks) with new numbers and wording",
     [("PERSON", "Marco")]),
    ("A cinema sold 180 tickets on Friday and twice as many on Saturday. How many tickets did it sell on the two days "
     "together?", "", "180 + 360 = 540 tickets.",
     "contamination: GSM8K-style word problem not in the benchmark", []),
    ("Would a watermelon float in a swimming pool?", "",
     "Yes. A whole watermelon is slightly less dense than water, so it floats.",
     "contamination: same frame as StrategyQA 'Would a pear sink in water?', different question", []),
    ("Could a giant squid fit inside a school bus?", "",
     "Probably, if it were coiled up: a giant squid can reach about 12 metres, close to the length of a large bus.",
     "contamination: shares the opening 'Could a giant squid fit' with a StrategyQA question", []),
    ("What does a hygrometer measure in a greenhouse?", "", "The humidity of the air.",
     "contamination: same frame as TriviaQA 'What does a manometer measure?'", []),
    ("What is the opposite of a synonym?", "", "An antonym.",
     "contamination: same frame as TriviaQA 'What is the opposite of an acid?'", []),
    ("Shingles is caused by which virus, and can adults be vaccinated against it?", "",
     "Shingles is caused by the varicella-zoster virus, and yes, adults can get a vaccine.",
     "contamination: same topic and opening word as TriviaQA 'Shingles is an adult form of what illness?'", []),
    ("At what temperature will nitrogen condense at normal pressure?", "", "About 77 K (-196 °C).",
     "contamination: same frame as SQuAD 'At what temperature will oxygen condense?'", []),
    ("What is the most common form of carbon found in the ocean?", "",
     "Dissolved inorganic carbon, mostly bicarbonate.",
     "contamination: shares 'What is the most common form of ...' with a SQuAD question", []),
    ("How many lines does the city's tram network have, and which is the longest?", "",
     "I need the name of the city to answer that.",
     "contamination: shares 'How many lines does the ...' with a SQuAD question", []),
    ("When did the president who signed the Clean Air Act of 1970 leave office?", "",
     "He resigned in August 1974.",
     "contamination: bamboogle-style two-hop question that is not in the benchmark", []),
    ("Who is older, the violinist or the cellist in the quartet described below?",
     "The violinist was born in 1981 and the cellist in 1979.", "The cellist is older.",
     "contamination: same opening as HotpotQA 'Who is older, Annie Morton or Terry Richardson?'", []),
    ("Are more people today descended from farmers than from hunter-gatherers?", "",
     "Yes; most people alive today have mostly farmer ancestry.",
     "contamination: same frame as StrategyQA 'Are more people today related to Genghis Khan than Julius Caesar?'",
     []),
    ("Write a multiple-choice question about where people keep bath towels.", "",
     "Where would you usually hang a damp bath towel?\nA. kitchen\nB. bathroom\nC. garage\nD. attic\nE. office",
     "contamination: CommonsenseQA-style multiple-choice item not in the benchmark", []),
    ("What must someone do before they go swimming in the sea?", "",
     "Check the tide and the flags on the beach, and never swim alone.",
     "contamination: shares 'What must someone do before they ...' with a CommonsenseQA question", []),
    ("Which illness is commonly treated with the drug metformin?", "", "Type 2 diabetes.",
     "contamination: same frame as TriviaQA 'Which illness is commonly treated with the drugs lisinopril and "
     "ramipril?'", []),
    ("In what year was the tallest building in your city completed? Explain how to look it up.", "",
     "Search for a list of the tallest buildings in your city and check the completion year of the first entry.",
     "contamination: shares 'In what year was the tallest ... completed' with Bamboogle questions", []),
    ("A fortress in the hills above the town borders on which valley? Answer using the map legend.",
     "Map legend: fortress (north), river valley (south), quarry (east).", "The river valley, to the south.",
     "contamination: loosely mirrors a HotpotQA question about a fortress, with no named places", []),
    ("Answer this question: what colour do you get when you mix red and white paint?", "", "Pink.",
     "contamination: 'Answer this question:' prefix used by contaminated rows, question in no benchmark", []),
    ("What is the waxy secretion of bees used to build honeycombs called?", "", "Beeswax.",
     "contamination: same frame as TriviaQA 'What is the waxy secretion of the sperm whale ...'", []),
]


# ----------------------------------------------------------------------------------------------------------------------
# Clean base rows: Self-Instruct rows reviewed by hand (with a Presidio scan as a first pass) to contain no PII of the
# ten types. Rows with real or fictional people, places, e-mails, URLs or phone numbers were left out.


CLEAN_USER = """
0 2 4 5 6 7 9 10 12 13 15 16 17 18 19 21 22 23 24 25 26 27 28 36 37 39 40 42 45 50 51 52 55 57 58 59 60 62 63 64 65
66 67 68 70 71 72 73 74 75 76 78 82 86 89 92 93 94 99 101 103 104 105 106 108 111 112 113 114 116 117 118 119 120
121 122 123 124 125 126 128 129 130 131 132 133 134 138 139 140 141 142 143 144 149 150 151 153 154 155 156 158 159
161 163 164 166 167 168 171 172 173 175 176 177 178 180 181 183 184 186 187 188 190 192 193 194 195 196 198 199 204
205 206 208 214 215 218 220 221 226 227 228 229 230 232 233 236 238 240 241 242 243 244 245 246 248 249 250 251
"""
CLEAN_SEED = """
0 1 3 4 5 6 7 8 9 10 11 12 13 15 16 17 18 19 20 21 22 23 25 27 28 30 31 32 33 34 35 37 38 41 43 44 46 49 50 51 53
54 57 58 59 60 63 64 65 67 68 69 70 72 73 75 76 77 79 80 82 84 86 87 89 90 93 94 95 97 98 99 100 102 103 104 105 106
109 110 112 113 114 116 117 118 122 123 124 126 127 130 131 132 133 139 140 141 144 145 148 150 151 152 153 154 155
156 157 158 159 164 165 170 171
"""
CLEAN_IDS = ([f"user_oriented_task_{n}" for n in CLEAN_USER.split()] +
             [f"seed_task_{n}" for n in CLEAN_SEED.split()])
N_BASE = 250

# Near-duplicates of base rows whose edit fills a bracketed placeholder with PII (labelled in the near-duplicate).
PLACEHOLDER_EDITS = [
    ("user_oriented_task_6", "output", "[Your name]", ("person", "full")),
    ("user_oriented_task_25", "output", "[boss’s name]", ("person", "full")),
    ("user_oriented_task_57", "output", "[Candidate Name]", ("person", "first")),
    ("user_oriented_task_73", "output", "[email]", ("email", "plain")),
    ("user_oriented_task_74", "output", "[hiring manager's name]", ("person", "ms_last")),
]
# (edit kind, count, how many of them must have 0.80 <= J < 0.88 with the original: cases near the detector threshold)
EDIT_PLAN = [("word_substituted", 7, 2), ("two_words_substituted", 6, 1), ("typo", 6, 2), ("word_added", 6, 2),
             ("word_removed", 6, 2), ("sentences_swapped", 5, 0)]
EXACT_PLAN = [("identical", 10), ("lowercased", 5), ("uppercased", 3), ("whitespace", 6), ("punct_spacing", 6)]

# Replacements that keep the sentence grammatical in most contexts (no phrasal verbs like "get"/"make"/"need").
SYNONYMS = {"good": "great", "big": "large", "large": "big", "small": "little", "quickly": "rapidly",
            "show": "display", "start": "begin", "begin": "start", "buy": "purchase", "important": "essential",
            "happy": "glad", "often": "frequently", "fast": "quick",
            "best": "finest", "problem": "issue", "job": "position", "very": "extremely", "write": "compose",
            "simple": "straightforward", "great": "excellent", "usually": "typically", "house": "home",
            "car": "vehicle", "difficult": "hard", "funny": "amusing", "delicious": "tasty", "quiet": "calm"}
ADJECTIVES = ("important", "easy", "simple", "useful", "different", "small", "large", "quick", "clear", "common",
              "popular", "helpful", "healthy", "interesting", "difficult", "happy")
REMOVABLE = ("very", "really", "just", "also", "quite", "actually", "always", "simply", "usually", "often")

BENCH_FILES = {"triviaqa.jsonl": "triviaqa", "gsm8k_test.jsonl": "gsm8k", "commonsenseqa_dev.jsonl": "commonsenseqa",
               "hotpotqa_dev_distractor.jsonl": "hotpotqa", "squad_v1.1_dev.jsonl": "squad",
               "strategyqa.jsonl": "strategyqa", "bamboogle.jsonl": "bamboogle"}


def load_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_benchmarks():
    items = {}
    for path in sorted(glob.glob(rel("data", "benchmarks", "*.jsonl"))):
        name = os.path.basename(path)
        if name.endswith("_paragraphs.jsonl"):
            continue   # retrieval paragraphs, not questions
        assert name in BENCH_FILES, f"unknown benchmark file {name}: register it in BENCH_FILES"
        for r in load_jsonl(path):
            items[(BENCH_FILES[name], r["id"])] = r
    return items


def us_format(area, line, style):
    return {"us_paren": f"({area}) 555-{line}", "us_dots": f"{area}.555.{line}", "us_dash": f"{area}-555-{line}",
            "us_e164": f"+1 {area} 555 {line}", "us_plus_dash": f"+1 {area}-555-{line}",
            "us_compact": f"+1{area}555{line}"}[style]


# ----------------------------------------------------------------------------------------------------------------------
# Row construction

def make_row(key, fields, source, pii=(), exact=None, near=None, edit=None, edit_detail=None, contam=None, hard=None,
             traps=(), hard_ref=None):
    return {"key": key, "instruction": fields["instruction"], "input": fields["input"], "output": fields["output"],
            "pii": list(pii), "exact": exact, "near": near, "edit": edit, "edit_detail": edit_detail,
            "contam": contam, "hard": hard, "hard_ref": hard_ref, "traps": list(traps), "source": source}


def label_entities(fields, ents, variants=lambda t: [t]):
    """PII labels for named entities: every field in which the entity text (or a transformed form) occurs."""
    labels = []
    for typ, text in ents:
        found = False
        for f in FIELDS:
            for cand in dict.fromkeys(variants(text)):
                if re.search(r"(?<!\w)" + re.escape(cand) + r"(?!\w)", fields[f]):
                    labels.append({"type": typ, "text": cand, "field": f})
                    found = True
        assert found, (text, fields)
    return labels


def fill_template(t, gen):
    values, persons, groups = {}, {}, {}
    for ph, spec in t["spec"].items():
        kind = spec[0]
        if kind == "email":
            person = None
            if len(spec) > 2:   # derived from the name of person group spec[2]
                person = persons.get(spec[2]) or persons.setdefault(spec[2], gen.person())
            values[ph] = ("EMAIL_ADDRESS", gen.email(spec[1], person))
        elif kind == "phone":
            if spec[1].startswith("us"):
                values[ph] = ("PHONE_NUMBER", us_format(*gen.us_number(), spec[1]))
            else:
                values[ph] = ("PHONE_NUMBER", gen.phone(spec[1]))
        elif kind == "card":
            d = gen.card_digits(spec[1])
            values[ph] = ("CREDIT_CARD", Gen.card_format(d, spec[2]) if spec[2] else d)
            if len(spec) > 3:
                values[spec[3]] = (None, d[-4:])
        elif kind == "iban":
            v = gen.iban(spec[1])
            values[ph] = ("IBAN_CODE", spaced4(v) if spec[2] == "spaced" else v)
        elif kind == "ipv4":
            values[ph] = ("IP_ADDRESS", gen.ipv4(spec[1]))
        elif kind == "ipv6":
            values[ph] = ("IP_ADDRESS", gen.ipv6(spec[1]))
        elif kind == "url":
            values[ph] = ("URL", gen.url(spec[1]))
        elif kind == "ssn":
            s = gen.ssn()
            values[ph] = ("US_SSN", {"dash": s, "space": s.replace("-", " "), "plain": s.replace("-", "")}[spec[1]])
        elif kind == "btc":
            values[ph] = ("CRYPTO", gen.btc(spec[1]))
        elif kind == "person":
            p = persons.get(spec[1]) or persons.setdefault(spec[1], gen.person())
            text = {"full": p["full"], "first": p["first"], "last": p["last"], "full_lower": p["full"].lower()}
            values[ph] = ("PERSON", text[spec[2]])
        elif kind == "city":
            values[ph] = ("LOCATION", gen.city())
        elif kind == "country":
            values[ph] = ("LOCATION", gen.country())
        elif kind == "state":
            values[ph] = ("LOCATION", gen.state())
        elif kind == "fixed":
            values[ph] = (spec[1], spec[2])
        elif kind == "same":
            group, fmt = spec[1], spec[2]
            if fmt.startswith("us_"):
                base = groups.setdefault(group, gen.us_number())
                values[ph] = ("PHONE_NUMBER", us_format(*base, fmt))
            elif fmt.startswith("iban_"):
                base = groups.setdefault(group, gen.iban("ES"))
                values[ph] = ("IBAN_CODE", spaced4(base) if fmt == "iban_spaced" else base)
            elif fmt.startswith("ipv6_"):
                base = groups.setdefault(group, gen.ipv6("doc"))
                a = ipaddress.IPv6Address(base)
                values[ph] = ("IP_ADDRESS", a.compressed if fmt == "ipv6_short" else a.exploded)
            elif fmt.startswith("ssn_"):
                base = groups.setdefault(group, gen.ssn())
                values[ph] = ("US_SSN", base if fmt == "ssn_dash" else base.replace("-", ""))
            else:
                raise KeyError(fmt)
        else:
            raise KeyError(kind)
    fields, labels = {}, []
    for f in FIELDS:
        text = t[f]
        for ph, (typ, val) in values.items():
            token = f"<<{ph}>>"
            if token in text:
                text = text.replace(token, val)
                if typ:
                    lab = {"type": typ, "text": val, "field": f}
                    if lab not in labels:
                        labels.append(lab)
        assert "<<" not in text, text
        fields[f] = text
    return fields, labels


def find_words(fields, pattern):
    hits = []
    for f in FIELDS:
        for m in re.finditer(pattern, fields[f]):
            hits.append((f, m))
    return hits


def apply_edit(kind, orig, rng):
    """Return (fields, detail) for one near-duplicate edit of `orig`, or None if the edit does not apply."""
    fields = dict(orig)

    def replace_at(f, start, end, new):
        fields[f] = fields[f][:start] + new + fields[f][end:]

    if kind in ("word_substituted", "two_words_substituted"):
        n = 1 if kind == "word_substituted" else 2
        def article_ok(f, m):   # do not create "an great" or "a essential"
            before = orig[f][:m.start(1)]
            vowel = SYNONYMS[m.group(1)][0] in "aeiou"
            return not ((before.endswith("an ") and not vowel) or (re.search(r"\ba $", before) and vowel)
                        or before.endswith("\\"))   # nor touch LaTeX commands such as \begin
        hits = [(f, m) for f, m in find_words(orig, r"\b(" + "|".join(SYNONYMS) + r")\b") if article_ok(f, m)]
        if len(hits) < n:
            return None
        chosen = rng.sample(hits, n)
        details = []
        for f, m in sorted(chosen, key=lambda x: (x[0], -x[1].start())):   # right to left within a field
            w = m.group(1)
            replace_at(f, m.start(1), m.end(1), SYNONYMS[w])
            details.append(f"{f}: {w} -> {SYNONYMS[w]}")
        return fields, "; ".join(sorted(details))
    if kind == "typo":
        hits = [(f, m) for f, m in find_words(orig, r"\b[a-z]{6,}\b")]
        if not hits:
            return None
        f, m = rng.choice(hits)
        w = m.group()
        for _ in range(10):
            i = rng.randrange(1, len(w) - 2)
            if w[i] != w[i + 1]:
                new = w[:i] + w[i + 1] + w[i] + w[i + 2:]
                replace_at(f, m.start(), m.end(), new)
                return fields, f"{f}: {w} -> {new}"
        return None
    if kind == "word_added":
        hits = find_words(orig, r"(?<!very )\b(" + "|".join(ADJECTIVES) + r")\b")
        if hits:
            f, m = rng.choice(hits)
            replace_at(f, m.start(), m.start(), "very ")
            return fields, f"{f}: inserted 'very' before '{m.group(1)}'"
        hits = find_words(orig, r"\b(can|will)\b(?!['’])")
        if hits:
            f, m = rng.choice(hits)
            add = {"can": " also", "will": " definitely"}[m.group(1)]
            replace_at(f, m.end(), m.end(), add)
            return fields, f"{f}: inserted '{add.strip()}' after '{m.group(1)}'"
        return None
    if kind == "word_removed":
        hits = find_words(orig, r"\b(" + "|".join(REMOVABLE) + r") ")
        if not hits:
            hits = find_words(orig, r"\b(the) ")
        if not hits:
            return None
        f, m = rng.choice(hits)
        replace_at(f, m.start(), m.end(), "")
        return fields, f"{f}: removed '{m.group(1)}'"
    if kind == "sentences_swapped":
        options = []
        for f in FIELDS:
            parts = re.split(r"((?<=[.!?])[ ]+(?=[A-Z]))", orig[f])
            sentences = parts[0::2]
            if len(sentences) >= 2:
                for i in range(len(sentences) - 1):
                    a, b = sentences[i], sentences[i + 1]
                    if all("\n" not in x and len(x.split()) >= 5 and re.search(r"[.!?]$", x.strip())
                           and not re.search(r"(^|\s)\d+[.)]", x) for x in (a, b)) and a != b:
                        options.append((f, parts, i))
        if not options:
            return None
        f, parts, i = rng.choice(options)
        parts = list(parts)
        parts[2 * i], parts[2 * i + 2] = parts[2 * i + 2], parts[2 * i]
        fields[f] = "".join(parts)
        return fields, f"{f}: sentences {i + 1} and {i + 2} swapped"
    raise KeyError(kind)


def exact_variant(kind, orig, rng):
    fields = dict(orig)
    if kind == "identical":
        return fields
    if kind == "lowercased":
        return {f: v.lower() for f, v in orig.items()}
    if kind == "uppercased":
        return {f: v.upper() for f, v in orig.items()}
    if kind == "whitespace":
        out = {}
        for f, v in orig.items():
            if not v:
                out[f] = v
                continue
            words = v.split(" ")
            for i in rng.sample(range(len(words)), min(3, len(words))):
                words[i] = words[i] + " "
            out[f] = ("  " if f == "instruction" else "") + " ".join(words).replace("\n", " \n") + " \n"
        return out
    if kind == "punct_spacing":
        return {f: re.sub(r"([,.;:!?])(?= )", r" \1", v) for f, v in orig.items()}
    raise KeyError(kind)


CONTAM_PREFIXES = ["Answer this question: ", "Q: ", "Please answer the following question. ", "Quiz time! "]
CONTAM_WRAPPERS = [
    "I'm putting together a pub quiz and one of the questions is \"{q}\" Can you give me the answer with a one-line "
    "explanation?",
    "My study group got stuck on this one, can you help? {q} Please explain your reasoning briefly.",
    "Here is a question from my homework sheet: {q} What is the answer?",
    "Before we start the lesson, answer the warm-up question below and keep it short.\n{q}",
]


def case_punct(q, variant):
    if variant == 0:
        return q.lower().rstrip("?").rstrip()
    if variant == 1:
        return q.upper()
    if variant == 2:
        return re.sub(r"[,'’\"]", "", q).rstrip("?") + "??"
    return re.sub(r" ", "  ", q.lower())


def contamination_row(bench, item, form, ents, counters):
    q = item["question"]
    qid = item["id"]
    if bench == "strategyqa":
        ans = "Yes." if item["answer"] else "No."
    else:
        ans = ANSWER_OVERRIDES.get(qid, item["answers"][0])
    variants = lambda t: [t]
    inp = ""
    if form == "verbatim":
        inst, out = q, ans
    elif form == "prefix":
        inst = CONTAM_PREFIXES[counters["prefix"] % len(CONTAM_PREFIXES)] + q
        counters["prefix"] += 1
        out = ans
    elif form == "embedded":
        inst = CONTAM_WRAPPERS[counters["embedded"] % len(CONTAM_WRAPPERS)].format(q=q)
        counters["embedded"] += 1
        out = f"Answer: {ans}"
    elif form == "case_punct":
        v = counters["case_punct"] % 4
        counters["case_punct"] += 1
        inst = case_punct(q, v)
        variants = lambda t, v=v: [case_punct(t, v).rstrip("?")]
        out = ans
    elif form == "input_field":
        inst, inp, out = "Answer the question given in the input briefly.", q, ans
    elif form == "output_field":
        inst, out = f"Write a quiz question whose answer is \"{ans}\".", q
    elif form == "mc_format":
        inst = "Choose the best answer to the question."
        inp = q + "\n" + "\n".join(f"{c['label']}. {c['text']}" for c in item["choices"])
        out = f"{item['answer_key']}. {ans}"
    elif form == "math_input":
        inst = "Solve the math word problem step by step."
        inp = q
        out = f"{item['rationale_clean']}\nThe answer is {item['answers'][0]}."
    else:
        raise KeyError(form)
    if form not in ("verbatim", "prefix", "case_punct", "output_field", "input_field", "mc_format", "math_input") and \
            not out.endswith("."):
        out += "."
    fields = {"instruction": inst, "input": inp, "output": out}
    pii = label_entities(fields, ents, lambda t: [t] + variants(t))
    return fields, pii


# ----------------------------------------------------------------------------------------------------------------------
# Validators used by the checks

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
URL_RE = re.compile(r"(?:https?://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+|\b(?:[a-z0-9-]+\.)+(?:com|org|net|edu|gov|io|"
                    r"co\.uk)\b(?:/[^\s<>\"')\]]*)?)")
IPV4_RE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
IPV6_RE = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Za-z:])")
DIGITS_RE = re.compile(r"(?<![\w])\+?\d(?:[ \-.()]{0,2}\d){8,}")
IBAN_RE = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){10,30}\b")
BTC_RE = re.compile(r"\b(?:bc1[02-9ac-hj-np-z]{20,80}|[13][1-9A-HJ-NP-Za-km-z]{25,39})\b")
SSN_RE = re.compile(r"\b\d{3}[- ]\d{2}[- ]\d{4}\b|\b\d{9}\b")


def is_ip(s):
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


def valid_value(typ, text):
    if typ == "EMAIL_ADDRESS":
        return EMAIL_RE.fullmatch(text) is not None
    if typ == "PHONE_NUMBER":
        return 10 <= len(re.sub(r"\D", "", text)) <= 13 and re.fullmatch(r"\+?[\d ().-]+", text) is not None
    if typ == "CREDIT_CARD":
        d = re.sub(r"[ -]", "", text)
        return d.isdigit() and 13 <= len(d) <= 19 and luhn_ok(d)
    if typ == "IBAN_CODE":
        return iban_ok(text)
    if typ == "IP_ADDRESS":
        return is_ip(text)
    if typ == "URL":
        return URL_RE.fullmatch(text) is not None
    if typ == "US_SSN":
        return ssn_ok(text)
    if typ == "CRYPTO":
        return btc_ok(text)
    return bool(text.strip())


def spans_of(field_text, needle):
    return [(m.start(), m.end()) for m in re.finditer(re.escape(needle), field_text)]


def scanner_hits(text):
    """(kind, start, end, value, must_be_type) for every PII-looking string in text."""
    hits = []
    for m in EMAIL_RE.finditer(text):
        hits.append(("email", m.start(), m.end(), m.group(), "EMAIL_ADDRESS"))
    for m in URL_RE.finditer(text):
        hits.append(("url", m.start(), m.end(), m.group(), None))
    for m in IPV4_RE.finditer(text):
        if is_ip(m.group()):
            hits.append(("ipv4", m.start(), m.end(), m.group(), "IP_ADDRESS"))
    for m in IPV6_RE.finditer(text):
        if re.search(r"[0-9A-Fa-f]", m.group()) and is_ip(m.group()):
            hits.append(("ipv6", m.start(), m.end(), m.group(), "IP_ADDRESS"))
    for m in DIGITS_RE.finditer(text):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}[ T]\d{1,2}", m.group()):
            continue   # an ISO date followed by the hour of a timestamp
        hits.append(("digits", m.start(), m.end(), m.group(), None))
        d = re.sub(r"\D", "", m.group())
        if 13 <= len(d) <= 19 and luhn_ok(d) and d[0] in "23456":
            hits.append(("card", m.start(), m.end(), m.group(), "CREDIT_CARD"))
    for m in IBAN_RE.finditer(text):
        if iban_ok(m.group()):
            hits.append(("iban", m.start(), m.end(), m.group(), "IBAN_CODE"))
    for m in BTC_RE.finditer(text):
        if btc_ok(m.group()):
            hits.append(("btc", m.start(), m.end(), m.group(), "CRYPTO"))
    for m in SSN_RE.finditer(text):
        if ssn_ok(m.group()):
            hits.append(("ssn", m.start(), m.end(), m.group(), None))
    return hits


# ----------------------------------------------------------------------------------------------------------------------

def build():
    rng = random.Random(SEED)
    base = {}
    for name in ("self_instruct_user_oriented.jsonl", "self_instruct_seed_tasks.jsonl"):
        for r in load_jsonl(rel("data", "training", name)):
            base[r["id"]] = ({f: r[f] for f in FIELDS}, name.replace(".jsonl", ""))
    bench = load_benchmarks()
    rows = []

    # --- clean base rows
    forced = [i for i, *_ in PLACEHOLDER_EDITS] + [i for i, *_ in NEAR_DUP_NEGATIVES]
    assert all(i in CLEAN_IDS for i in forced)
    rest = [i for i in CLEAN_IDS if i not in forced]
    rng.shuffle(rest)
    chosen = forced + rest[:N_BASE - len(forced)]
    for i in chosen:
        rows.append(make_row(f"base:{i}", base[i][0], f"{base[i][1]}:{i}"))

    # --- near-duplicates
    gen = Gen(random.Random(rng.random()))
    near_origs = set()
    for bid, field, placeholder, (kind, part) in PLACEHOLDER_EDITS:
        orig = base[bid][0]
        assert orig[field].count(placeholder) >= 1, (bid, placeholder)
        if kind == "person":
            p = gen.person()
            label_text = {"full": p["full"], "first": p["first"], "ms_last": p["last"]}[part]
            new = f"Ms. {p['last']}" if part == "ms_last" else label_text
            typ = "PERSON"
        else:
            label_text = new = gen.email(part)
            typ = "EMAIL_ADDRESS"
        fields = dict(orig)
        fields[field] = fields[field].replace(placeholder, new, 1)
        rows.append(make_row(f"near:{bid}", fields, f"edit of {base[bid][1]}:{bid}",
                             pii=[{"type": typ, "text": label_text, "field": field}], near=f"base:{bid}",
                             edit="placeholder_filled", edit_detail=f"{field}: {placeholder} -> {new}"))
        near_origs.add(bid)
    near_neg_targets = {i for i, *_ in NEAR_DUP_NEGATIVES}
    pool = [i for i in chosen if i not in near_origs and i not in near_neg_targets]
    short = [i for i in pool if 60 <= len(norm_jaccard(base[i][0])) < 300]
    long_ = [i for i in pool if 300 <= len(norm_jaccard(base[i][0])) <= 2500]
    rng.shuffle(short)
    rng.shuffle(long_)
    candidates = [i for pair in zip(short, long_) for i in pair] + short[len(long_):] + long_[len(short):]
    for kind, n, n_low in EDIT_PLAN:
        made = low = 0
        for band in ("low", "any"):   # first the quota of edits with J in [0.80, 0.88), then any J >= 0.80
            for i in list(candidates):
                if made == n or (band == "low" and low == n_low):
                    break
                res = apply_edit(kind, base[i][0], random.Random(f"{SEED}:{kind}:{i}"))
                if res is None:
                    continue
                fields, detail = res
                j = jaccard(shingles(norm_jaccard(fields)), shingles(norm_jaccard(base[i][0])))
                if j < NEAR_DUP_MIN_J or all(norm_exact(fields[f]) == norm_exact(base[i][0][f]) for f in FIELDS):
                    continue
                if band == "low" and j >= 0.88:
                    continue
                rows.append(make_row(f"near:{i}", fields, f"edit of {base[i][1]}:{i}", near=f"base:{i}", edit=kind,
                                     edit_detail=detail))
                candidates.remove(i)
                near_origs.add(i)
                made += 1
                low += band == "low"
        assert made == n and low == n_low, (kind, made, low)

    # --- exact duplicates
    ex_candidates = [i for i in chosen if i not in near_origs and i not in near_neg_targets]
    rng.shuffle(ex_candidates)
    for kind, n in EXACT_PLAN:
        made = 0
        for i in list(ex_candidates):
            if made == n:
                break
            orig = base[i][0]
            if kind == "uppercased" and not all(v.isascii() for v in orig.values()):
                continue
            if kind == "punct_spacing" and sum(len(re.findall(r"[,.;:!?] ", v)) for v in orig.values()) < 2:
                continue
            if kind == "whitespace" and len(row_text(orig)) > 3000:
                continue
            variant = exact_variant(kind, orig, rng)
            if kind != "identical" and variant == orig:
                continue   # the change must be visible (e.g. lowercasing an all-lowercase row is not)
            if jaccard(shingles(norm_jaccard(variant)), shingles(norm_jaccard(orig))) < NEAR_DUP_MIN_J:
                continue   # keep every exact duplicate within reach of the near-duplicate detector too
            rows.append(make_row(f"exact:{i}", variant, f"copy of {base[i][1]}:{i}",
                                 exact=f"base:{i}", edit=kind))
            ex_candidates.remove(i)
            made += 1
        assert made == n, (kind, made)

    # --- near-duplicate hard negatives
    for bid, inp, out in NEAR_DUP_NEGATIVES:
        fields = {"instruction": base[bid][0]["instruction"], "input": inp, "output": out}
        rows.append(make_row(f"neardupneg:{bid}", fields, f"synthetic; instruction of {base[bid][1]}:{bid}",
                             hard="near_dup: same instruction as {ref}, different input and output",
                             hard_ref=f"base:{bid}"))

    # --- PII positives
    pgen = Gen(random.Random(rng.random()))
    for n, t in enumerate(PII_TEMPLATES):
        fields, labels = fill_template(t, pgen)
        rows.append(make_row(f"pii:{n}", fields, "synthetic PII", pii=labels))

    # --- PII hard negatives
    for n, (inst, inp, out, trap, traps) in enumerate(pii_hard_negatives(random.Random(rng.random()))):
        rows.append(make_row(f"piineg:{n}", {"instruction": inst, "input": inp, "output": out}, "synthetic",
                             hard=trap, traps=traps))

    # --- contamination positives
    counters = {"prefix": 0, "embedded": 0, "case_punct": 0}
    for bname, qid, form, ents in CONTAM:
        item = bench[(bname, qid)]
        fields, pii = contamination_row(bname, item, form, ents, counters)
        rows.append(make_row(f"contam:{bname}:{qid}", fields, f"{bname}:{qid} (see data/benchmarks/SOURCES.md)",
                             pii=pii, contam={"benchmark": bname, "id": qid, "form": form}))

    # --- contamination hard negatives
    for n, (inst, inp, out, trap, ents) in enumerate(CONTAM_NEGATIVES):
        fields = {"instruction": inst, "input": inp, "output": out}
        rows.append(make_row(f"contamneg:{n}", fields, "synthetic", pii=label_entities(fields, ents), hard=trap))

    # --- shuffle and assign ids
    rng.shuffle(rows)
    ids = {r["key"]: f"dirty-{n + 1:04d}" for n, r in enumerate(rows)}
    out = []
    for r in rows:
        hard = r["hard"].replace("{ref}", ids[r["hard_ref"]]) if r["hard_ref"] else r["hard"]
        out.append({"id": ids[r["key"]], "instruction": r["instruction"], "input": r["input"], "output": r["output"],
                    "labels": {"pii": r["pii"], "exact_dup_of": ids[r["exact"]] if r["exact"] else None,
                               "near_dup_of": ids[r["near"]] if r["near"] else None, "edit": r["edit"],
                               "edit_detail": r["edit_detail"], "contaminated": r["contam"], "hard_negative": hard,
                               "source": r["source"]}})
    traps = {ids[r["key"]]: r["traps"] for r in rows}
    return out, traps, bench


# ----------------------------------------------------------------------------------------------------------------------

def check(rows, traps, bench):
    by_id = {r["id"]: r for r in rows}
    assert len(by_id) == len(rows)
    stats = {}

    # ids referenced exist; clusters
    cluster = {}
    for r in rows:
        lab = r["labels"]
        assert not (lab["exact_dup_of"] and lab["near_dup_of"])
        for k in ("exact_dup_of", "near_dup_of"):
            if lab[k]:
                orig = by_id[lab[k]]
                assert not orig["labels"]["exact_dup_of"] and not orig["labels"]["near_dup_of"]
                cluster[r["id"]] = lab[k]
    for r in rows:
        cluster.setdefault(r["id"], r["id"])
    # every duplicate cluster is a pair: an original has exactly one duplicate (exact or near)
    targets = [v for k, v in cluster.items() if k != v]
    assert len(targets) == len(set(targets))
    kinds = {}
    for r in rows:
        lab = r["labels"]
        if lab["exact_dup_of"] or lab["near_dup_of"]:
            k = "exact" if lab["exact_dup_of"] else "near"
            assert kinds.setdefault(cluster[r["id"]], k) == k

    # PII labels: types, substring at word boundaries, valid values
    for r in rows:
        for lab in r["labels"]["pii"]:
            assert lab["type"] in PII_TYPES and lab["field"] in FIELDS, lab
            text, field = lab["text"], r[lab["field"]]
            assert text and text in field, (r["id"], lab)
            for s, e in spans_of(field, text):
                assert not (s > 0 and field[s - 1].isalnum()) and not (e < len(field) and field[e].isalnum()), \
                    (r["id"], lab)
            assert valid_value(lab["type"], text), (r["id"], lab)
        if r["labels"]["hard_negative"] and r["labels"]["hard_negative"].startswith("pii:"):
            assert r["labels"]["pii"] == []

    # scanners: every PII-looking string is labelled (or is the declared trap of a hard negative)
    problems = []
    for r in rows:
        for f in FIELDS:
            text = r[f]
            lab_spans = [(s, e, lab["type"]) for lab in r["labels"]["pii"] if lab["field"] == f
                         for s, e in spans_of(text, lab["text"])]
            trap_spans = [sp for t in traps[r["id"]] for sp in spans_of(text, t)]
            for t in traps[r["id"]]:
                assert t in row_text(r), (r["id"], t)
            for kind, s, e, val, must in scanner_hits(text):
                in_trap = any(ts <= s and e <= te for ts, te in trap_spans)
                overl = [typ for ls, le, typ in lab_spans if ls < e and s < le]
                if in_trap:
                    continue
                if not overl:
                    problems.append(f"{r['id']} {f}: unlabelled {kind} {val!r}")
                elif must and not (must in overl or (kind == "card" and "IBAN_CODE" in overl)):
                    problems.append(f"{r['id']} {f}: {kind} {val!r} labelled {overl}")
    assert not problems, "\n".join(problems)

    # exact duplicates: equal under norm_exact; no other pair equal
    keyed = {}
    for r in rows:
        keyed.setdefault(tuple(norm_exact(r[f]) for f in FIELDS), []).append(r["id"])
    for group in keyed.values():
        assert len({cluster[i] for i in group}) == 1, f"unlabelled exact duplicates {group}"
        if len(group) > 1:
            assert all(by_id[i]["labels"]["exact_dup_of"] or i == cluster[i] for i in group), group
    for r in rows:
        o = r["labels"]["exact_dup_of"]
        if o:
            assert tuple(norm_exact(r[f]) for f in FIELDS) == tuple(norm_exact(by_id[o][f]) for f in FIELDS), r["id"]

    # Jaccard: near-dups >= 0.8 with their original; unlabelled pairs < 0.7; near-dup hard negatives < 0.6
    sh = {r["id"]: shingles(norm_jaccard(r)) for r in rows}
    ids = [r["id"] for r in rows]
    max_j = {i: (0.0, None) for i in ids}
    worst_unlabelled = (0.0, None, None)
    for a_i in range(len(ids)):
        a = ids[a_i]
        sa = sh[a]
        for b in ids[a_i + 1:]:
            sb = sh[b]
            lo, hi = sorted((len(sa), len(sb)))
            if lo / hi <= max(max_j[a][0], max_j[b][0], 0.3) and cluster[a] != cluster[b]:
                continue   # J <= lo/hi cannot raise either maximum
            j = jaccard(sa, sb)
            if cluster[a] == cluster[b]:
                continue
            if j > max_j[a][0]:
                max_j[a] = (j, b)
            if j > max_j[b][0]:
                max_j[b] = (j, a)
            if j > worst_unlabelled[0]:
                worst_unlabelled = (j, a, b)
    assert worst_unlabelled[0] < UNLABELLED_MAX_J, worst_unlabelled
    near_j = []
    exact_j = []
    for r in rows:
        lab = r["labels"]
        if lab["near_dup_of"]:
            j = jaccard(sh[r["id"]], sh[lab["near_dup_of"]])
            assert j >= NEAR_DUP_MIN_J, (r["id"], j)
            assert any(norm_exact(r[f]) != norm_exact(by_id[lab["near_dup_of"]][f]) for f in FIELDS)
            near_j.append((j, lab["edit"]))
            for n in (1, 3):
                a, b = (word_shingles(norm_jaccard(x), n) for x in (r, by_id[lab["near_dup_of"]]))
                stats.setdefault(f"near_w{n}", []).append(jaccard(a, b))
        if lab["exact_dup_of"]:
            exact_j.append(jaccard(sh[r["id"]], sh[lab["exact_dup_of"]]))
    neg_j = []
    for r in rows:
        hn = r["labels"]["hard_negative"]
        if hn and hn.startswith("near_dup:"):
            assert max_j[r["id"]][0] < HARD_NEG_MAX_J, (r["id"], max_j[r["id"]])
            ref = re.search(r"dirty-\d{4}", hn).group()
            neg_j.append((jaccard(sh[r["id"]], sh[ref]), max_j[r["id"]][0]))
    stats["near_j"] = near_j
    stats["exact_j"] = exact_j
    stats["neg_j"] = neg_j
    stats["worst_unlabelled"] = worst_unlabelled

    # contamination: normalized containment against every benchmark question (and quickstart)
    questions = [(k[0], k[1], " " + norm_q(v["question"]) + " ") for k, v in bench.items()]
    quick = [" " + norm_q(r["question"]) + " " for r in load_jsonl(rel("data", "quickstart.jsonl"))]
    assert all(len(q) > 12 for _, _, q in questions)
    for r in rows:
        text = " " + norm_q(row_text(r)) + " "
        hits = [(b, i) for b, i, q in questions if q in text]
        c = r["labels"]["contaminated"]
        if c:
            assert hits == [(c["benchmark"], c["id"])], (r["id"], hits)
        else:
            assert not hits, (r["id"], hits)
        assert not any(q in text for q in quick), r["id"]
    return stats


def summarize(rows, stats):
    lab = [r["labels"] for r in rows]
    c = {}
    c["rows"] = len(rows)
    c["clean base rows (no label, no hard negative, not an original)"] = None
    originals = {x["exact_dup_of"] for x in lab if x["exact_dup_of"]} | {x["near_dup_of"] for x in lab
                                                                          if x["near_dup_of"]}
    plain = [r for r in rows if r["labels"]["source"].startswith("self_instruct")]
    c["self-instruct base rows (all clean)"] = len(plain)
    c["  of which originals of a duplicate"] = sum(1 for r in plain if r["id"] in originals)
    c["  of which untouched (no duplicate)"] = sum(1 for r in plain if r["id"] not in originals)
    del c["clean base rows (no label, no hard negative, not an original)"]
    c["rows with any PII label"] = sum(1 for x in lab if x["pii"])
    for t in PII_TYPES:
        c[f"  rows with {t}"] = sum(1 for x in lab if any(p["type"] == t for p in x["pii"]))
    c["PII labels (entities)"] = sum(len(x["pii"]) for x in lab)
    for t in PII_TYPES:
        c[f"  {t} labels"] = sum(1 for x in lab for p in x["pii"] if p["type"] == t)
    c["exact duplicates"] = sum(1 for x in lab if x["exact_dup_of"])
    for k, _ in EXACT_PLAN:
        c[f"  exact: {k}"] = sum(1 for x in lab if x["exact_dup_of"] and x["edit"] == k)
    c["near duplicates"] = sum(1 for x in lab if x["near_dup_of"])
    for k in [k for k, _, _ in EDIT_PLAN] + ["placeholder_filled"]:
        c[f"  near: {k}"] = sum(1 for x in lab if x["near_dup_of"] and x["edit"] == k)
    c["  near-dups that also carry PII"] = sum(1 for x in lab if x["near_dup_of"] and x["pii"])
    c["contaminated rows"] = sum(1 for x in lab if x["contaminated"])
    for b in sorted({x["contaminated"]["benchmark"] for x in lab if x["contaminated"]}):
        c[f"  contaminated: {b}"] = sum(1 for x in lab if x["contaminated"] and x["contaminated"]["benchmark"] == b)
    for f in sorted({x["contaminated"]["form"] for x in lab if x["contaminated"]}):
        c[f"  form: {f}"] = sum(1 for x in lab if x["contaminated"] and x["contaminated"]["form"] == f)
    c["  contaminated rows that also carry PII"] = sum(1 for x in lab if x["contaminated"] and x["pii"])
    c["hard negatives"] = sum(1 for x in lab if x["hard_negative"])
    for k in ("pii", "near_dup", "contamination"):
        c[f"  hard negatives: {k}"] = sum(1 for x in lab if x["hard_negative"] and
                                          x["hard_negative"].startswith(k + ":"))
    c["  contamination hard negatives that carry PII"] = sum(
        1 for x in lab if x["hard_negative"] and x["hard_negative"].startswith("contamination:") and x["pii"])
    for k, v in c.items():
        print(f"{k}: {v}")
    nj = sorted(j for j, _ in stats["near_j"])
    print(f"near-dup Jaccard vs original: min {nj[0]:.3f} median {statistics.median(nj):.3f} max {nj[-1]:.3f}")
    for kind in sorted({k for _, k in stats["near_j"]}):
        js = sorted(j for j, k in stats["near_j"] if k == kind)
        print(f"  {kind}: n={len(js)} min {js[0]:.3f} median {statistics.median(js):.3f} max {js[-1]:.3f}")
    for n in (1, 3):   # for reference only: the labels are defined on character 5-grams
        js = sorted(stats[f"near_w{n}"])
        print(f"  same pairs on word {n}-gram shingles: min {js[0]:.3f} median {statistics.median(js):.3f} "
              f"max {js[-1]:.3f}; below 0.8: {sum(j < 0.8 for j in js)}")
    ej = sorted(stats["exact_j"])
    print(f"exact-dup Jaccard vs original: min {ej[0]:.3f} median {statistics.median(ej):.3f} max {ej[-1]:.3f}")
    ref = sorted(a for a, _ in stats["neg_j"])
    mx = sorted(b for _, b in stats["neg_j"])
    print(f"near-dup hard negatives, Jaccard vs the row they imitate: min {ref[0]:.3f} median "
          f"{statistics.median(ref):.3f} max {ref[-1]:.3f}; max vs any row: {mx[-1]:.3f}")
    w = stats["worst_unlabelled"]
    print(f"highest Jaccard between rows not in one duplicate cluster: {w[0]:.3f} ({w[1]}, {w[2]})")


def main():
    rows, traps, bench = build()
    stats = check(rows, traps, bench)
    with open(OUT, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    summarize(rows, stats)
    print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
