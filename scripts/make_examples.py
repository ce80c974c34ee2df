#!/usr/bin/env python
"""Write the example datasets shipped in ``jupyter_automl/datasets/examples/``.

    python scripts/make_examples.py            # rewrite the shipped files
    python scripts/make_examples.py --out DIR  # write them somewhere else

Everything comes from code and a fixed seed, so running it again gives the same CSV bytes.
No file is downloaded: the digits are scikit-learn's bundled copy of the UCI handwritten
digits, and every fact (capitals, conversions, dates, prices) is computed or listed here.

The data are meant to be learnable: each answer is determined by its prompt (plus the
history and system prompt in the chat file), so a fine-tuned model has something real to
beat its base model on.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import io
import json
import random
import zipfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SEED = 20261123
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "jupyter_automl" / "datasets" / "examples"
ZIP_DATE = (2026, 1, 1, 0, 0, 0)  # fixed member timestamps: the same bytes every run


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def fmt(value: Decimal | int | float) -> str:
    """A number as a person writes it: no trailing zeros, no exponent."""
    d = Decimal(str(value))
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# =================================================================================================
# llm_text: deterministic transformations with one right answer each
# =================================================================================================

CAPITALS = [
    ("Afghanistan", "Kabul"), ("Albania", "Tirana"), ("Algeria", "Algiers"),
    ("Andorra", "Andorra la Vella"), ("Angola", "Luanda"), ("Argentina", "Buenos Aires"),
    ("Armenia", "Yerevan"), ("Australia", "Canberra"), ("Austria", "Vienna"),
    ("Azerbaijan", "Baku"), ("the Bahamas", "Nassau"), ("Bahrain", "Manama"),
    ("Bangladesh", "Dhaka"), ("Barbados", "Bridgetown"), ("Belarus", "Minsk"),
    ("Belgium", "Brussels"), ("Belize", "Belmopan"), ("Bhutan", "Thimphu"),
    ("Bosnia and Herzegovina", "Sarajevo"), ("Botswana", "Gaborone"), ("Brazil", "Brasília"),
    ("Bulgaria", "Sofia"), ("Burkina Faso", "Ouagadougou"), ("Cambodia", "Phnom Penh"),
    ("Cameroon", "Yaoundé"), ("Canada", "Ottawa"), ("Chad", "N'Djamena"), ("Chile", "Santiago"),
    ("China", "Beijing"), ("Colombia", "Bogotá"), ("Costa Rica", "San José"),
    ("Croatia", "Zagreb"), ("Cuba", "Havana"), ("Cyprus", "Nicosia"),
    ("the Czech Republic", "Prague"), ("Denmark", "Copenhagen"),
    ("the Dominican Republic", "Santo Domingo"), ("Ecuador", "Quito"), ("Egypt", "Cairo"),
    ("El Salvador", "San Salvador"), ("Estonia", "Tallinn"), ("Ethiopia", "Addis Ababa"),
    ("Fiji", "Suva"), ("Finland", "Helsinki"), ("France", "Paris"), ("Gabon", "Libreville"),
    ("Georgia", "Tbilisi"), ("Germany", "Berlin"), ("Ghana", "Accra"), ("Greece", "Athens"),
    ("Guatemala", "Guatemala City"), ("Guinea", "Conakry"), ("Guyana", "Georgetown"),
    ("Haiti", "Port-au-Prince"), ("Honduras", "Tegucigalpa"), ("Hungary", "Budapest"),
    ("Iceland", "Reykjavík"), ("India", "New Delhi"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Ireland", "Dublin"), ("Italy", "Rome"), ("Jamaica", "Kingston"), ("Japan", "Tokyo"),
    ("Jordan", "Amman"), ("Kazakhstan", "Astana"), ("Kenya", "Nairobi"), ("Kuwait", "Kuwait City"),
    ("Kyrgyzstan", "Bishkek"), ("Laos", "Vientiane"), ("Latvia", "Riga"), ("Lebanon", "Beirut"),
    ("Lesotho", "Maseru"), ("Liberia", "Monrovia"), ("Libya", "Tripoli"),
    ("Liechtenstein", "Vaduz"), ("Lithuania", "Vilnius"), ("Madagascar", "Antananarivo"),
    ("Malawi", "Lilongwe"), ("Mali", "Bamako"), ("Malta", "Valletta"),
    ("Mauritania", "Nouakchott"), ("Mauritius", "Port Louis"), ("Mexico", "Mexico City"),
    ("Moldova", "Chișinău"), ("Mongolia", "Ulaanbaatar"), ("Montenegro", "Podgorica"),
    ("Morocco", "Rabat"), ("Mozambique", "Maputo"), ("Namibia", "Windhoek"),
    ("Nepal", "Kathmandu"), ("the Netherlands", "Amsterdam"), ("New Zealand", "Wellington"),
    ("Nicaragua", "Managua"), ("Niger", "Niamey"), ("Nigeria", "Abuja"),
    ("North Korea", "Pyongyang"), ("North Macedonia", "Skopje"), ("Norway", "Oslo"),
    ("Oman", "Muscat"), ("Pakistan", "Islamabad"), ("Panama", "Panama City"),
    ("Papua New Guinea", "Port Moresby"), ("Paraguay", "Asunción"), ("Peru", "Lima"),
    ("the Philippines", "Manila"), ("Poland", "Warsaw"), ("Portugal", "Lisbon"),
    ("Qatar", "Doha"), ("Romania", "Bucharest"), ("Russia", "Moscow"), ("Rwanda", "Kigali"),
    ("Saudi Arabia", "Riyadh"), ("Senegal", "Dakar"), ("Serbia", "Belgrade"),
    ("Sierra Leone", "Freetown"), ("Slovakia", "Bratislava"), ("Slovenia", "Ljubljana"),
    ("Somalia", "Mogadishu"), ("South Korea", "Seoul"), ("South Sudan", "Juba"),
    ("Spain", "Madrid"), ("Sudan", "Khartoum"), ("Suriname", "Paramaribo"),
    ("Sweden", "Stockholm"), ("Switzerland", "Bern"), ("Syria", "Damascus"),
    ("Tajikistan", "Dushanbe"), ("Thailand", "Bangkok"), ("Togo", "Lomé"), ("Tunisia", "Tunis"),
    ("Turkey", "Ankara"), ("Turkmenistan", "Ashgabat"), ("Uganda", "Kampala"),
    ("Ukraine", "Kyiv"), ("the United Arab Emirates", "Abu Dhabi"),
    ("the United Kingdom", "London"), ("the United States", "Washington, D.C."),
    ("Uruguay", "Montevideo"), ("Uzbekistan", "Tashkent"), ("Venezuela", "Caracas"),
    ("Vietnam", "Hanoi"), ("Zambia", "Lusaka"), ("Zimbabwe", "Harare"),
]

MONTHS = list(calendar.month_name)[1:]
ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def capital_rows(rng: random.Random) -> list[list[str]]:
    ask = [
        "What is the capital of {c}?",
        "Name the capital city of {c}.",
        "Capital of {c}?",
        "Which city is the capital of {c}?",
        "Tell me the capital of {c}.",
    ]
    reverse = [
        "{k} is the capital of which country?",
        "Which country has {k} as its capital?",
        "Of which country is {k} the capital?",
    ]
    rows = []
    for country, capital in CAPITALS:
        for template in rng.sample(ask, 2):
            rows.append([template.format(c=country), f"The capital of {country} is {capital}."])
        rows.append(
            [rng.choice(reverse).format(k=capital), f"{capital} is the capital of {country}."]
        )
    return rows


def date_rows(rng: random.Random, n: int) -> list[list[str]]:
    start = dt.date(1950, 1, 1).toordinal()
    end = dt.date(2035, 12, 31).toordinal()

    def long_forms(d: dt.date) -> list[str]:
        month = MONTHS[d.month - 1]
        suffix = ORDINAL_SUFFIX.get(d.day, "th")
        return [
            f"{month} {d.day}, {d.year}",
            f"{d.day} {month} {d.year}",
            f"{month[:3]} {d.day}, {d.year}",
            f"the {d.day}{suffix} of {month} {d.year}",
            f"{calendar.day_name[d.weekday()]}, {month} {d.day}, {d.year}",
            f"{d.day:02d}.{d.month:02d}.{d.year} (day.month.year)",
            f"{d.month}/{d.day}/{d.year} (US month/day/year)",
        ]

    to_iso = [
        "Convert to ISO 8601 (YYYY-MM-DD): {x}",
        "Write this date in ISO format: {x}",
        "ISO date for {x}?",
        "Rewrite {x} as YYYY-MM-DD.",
        "Give the ISO 8601 form of this date: {x}",
    ]
    from_iso = [
        "Write {iso} as a date in words.",
        "Spell out the date {iso} in English.",
        "Convert {iso} to a long English date.",
    ]
    rows = []
    for i in range(n):
        d = dt.date.fromordinal(rng.randint(start, end))
        iso = d.isoformat()
        if i % 4 == 3:
            words = f"{MONTHS[d.month - 1]} {d.day}, {d.year}"
            rows.append([rng.choice(from_iso).format(iso=iso), words])
        else:
            rows.append([rng.choice(to_iso).format(x=rng.choice(long_forms(d))), iso])
    return rows


def _c_to_f(c: Decimal) -> Decimal:
    return (c * 9 / 5 + 32).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _f_to_c(f: Decimal) -> Decimal:
    return ((f - 32) * 5 / 9).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


UNITS = [
    # (from, to, factor or function, how to draw the value, decimals of the answer or None)
    ("km", "m", Decimal(1000), "dec", None),
    ("m", "cm", Decimal(100), "dec", None),
    ("m", "km", Decimal("0.001"), "int", None),
    ("cm", "mm", Decimal(10), "dec", None),
    ("kg", "g", Decimal(1000), "dec", None),
    ("g", "kg", Decimal("0.001"), "int", None),
    ("l", "ml", Decimal(1000), "dec", None),
    ("ml", "l", Decimal("0.001"), "int", None),
    ("h", "min", Decimal(60), "dec", None),
    ("min", "s", Decimal(60), "int", None),
    ("in", "cm", Decimal("2.54"), "dec", 2),
    ("mi", "km", Decimal("1.609344"), "dec", 2),
    ("lb", "kg", Decimal("0.45359237"), "dec", 2),
    ("°C", "°F", _c_to_f, "temp", None),
    ("°F", "°C", _f_to_c, "ftemp", None),
]
UNIT_WORDS = {
    "km": "kilometres", "m": "metres", "cm": "centimetres", "mm": "millimetres",
    "kg": "kilograms", "g": "grams", "l": "litres", "ml": "millilitres", "h": "hours",
    "min": "minutes", "s": "seconds", "in": "inches", "mi": "miles", "lb": "pounds",
    "°C": "degrees Celsius", "°F": "degrees Fahrenheit",
}


def unit_rows(rng: random.Random, n: int) -> list[list[str]]:
    templates = [
        "Convert {v} {u} to {t}.",
        "How many {tw} are in {v} {uw}?",
        "{v} {u} in {t}?",
        "Express {v} {uw} in {tw}.",
        "Unit conversion: {v} {u} -> {t}",
    ]
    rows = []
    for i in range(n):
        unit, target, factor, draw, places = UNITS[i % len(UNITS)]
        if draw == "dec":
            value = Decimal(rng.randint(1, 999)) / (Decimal(10) ** rng.choice([0, 0, 1, 2]))
        elif draw == "int":
            value = Decimal(rng.randint(1, 50) * rng.choice([1, 10, 100, 250]))
        elif draw == "temp":
            value = Decimal(rng.randint(-40, 120))
        else:
            value = Decimal(rng.randint(-40, 250))
        if callable(factor):
            result = factor(value)
        else:
            result = value * factor
            if places is not None:
                result = result.quantize(Decimal(1) / (Decimal(10) ** places), ROUND_HALF_UP)
        template = rng.choice(templates)
        prompt = template.format(
            v=fmt(value), u=unit, t=target, uw=UNIT_WORDS[unit], tw=UNIT_WORDS[target]
        )
        rows.append([prompt, f"{fmt(value)} {unit} = {fmt(result)} {target}"])
    return rows


ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 1,000,000, US style (no "and")."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else "-" + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    rest = n % 1000
    return number_words(n // 1000) + " thousand" + ("" if rest == 0 else " " + number_words(rest))


def number_rows(rng: random.Random, n: int) -> list[list[str]]:
    to_words = [
        "Write {x} in words.",
        "Spell out the number {x}.",
        "How do you write {x} in English words?",
        "Number to words: {x}",
    ]
    to_digits = ["Write '{w}' as a number.", "Convert to digits: {w}", "What number is '{w}'?"]
    rows = []
    for i in range(n):
        x = rng.choice([rng.randint(0, 99), rng.randint(100, 999), rng.randint(1000, 99999)])
        if i % 3 == 2:
            rows.append([rng.choice(to_digits).format(w=number_words(x)), str(x)])
        else:
            rows.append([rng.choice(to_words).format(x=x), number_words(x)])
    return rows


def sort_rows(rng: random.Random, n: int) -> list[list[str]]:
    asc = ["Sort these numbers from smallest to largest: {x}", "Sort ascending: {x}",
           "Put in increasing order: {x}"]
    desc = ["Sort these numbers from largest to smallest: {x}", "Sort descending: {x}",
            "Put in decreasing order: {x}"]
    rows = []
    for i in range(n):
        values = rng.sample(range(0, 1000), rng.randint(3, 8))
        shown = ", ".join(map(str, values))
        if i % 2:
            rows.append([rng.choice(desc).format(x=shown), ", ".join(map(str, sorted(values, reverse=True)))])
        else:
            rows.append([rng.choice(asc).format(x=shown), ", ".join(map(str, sorted(values)))])
    return rows


def make_text(out: Path, rng: random.Random) -> int:
    rows = (
        capital_rows(rng)
        + date_rows(rng, 640)
        + unit_rows(rng, 600)
        + number_rows(rng, 420)
        + sort_rows(rng, 400)
    )
    rng.shuffle(rows)
    write_csv(out / "text.csv", ["prompt", "completion"], rows)
    return len(rows)


# =================================================================================================
# llm_chat: the support assistant of a fictional lamp maker, with policies and multi-turn context
# =================================================================================================

COMPANY = "Lumo Home"
EMAIL = "support@lumo-home.example"
PRODUCTS = {
    "Mini": {"price": 39, "warranty": 2, "colours": ["white", "sage green"],
             "reset": "hold the power button for 10 seconds until the light blinks orange three times"},
    "Classic": {"price": 59, "warranty": 2, "colours": ["white", "black", "oak"],
                "reset": "hold the power button for 10 seconds until the light blinks orange three times"},
    "Pro": {"price": 89, "warranty": 3, "colours": ["black", "brass"],
            "reset": "hold the touch ring for 15 seconds until the light pulses blue"},
}
# Accessories appear in shopping carts (so some carts stay under the free-shipping threshold).
ACCESSORIES = {"Remote": 19, "Wall Mount": 14, "USB-C Cable": 9}
PRICES = {**{p: v["price"] for p, v in PRODUCTS.items()}, **ACCESSORIES}
EU = ["Germany", "France", "Spain", "Italy", "the Netherlands", "Belgium", "Austria", "Ireland",
      "Portugal", "Finland", "Sweden", "Denmark", "Poland", "Czechia"]
SHIPPING = {"UK": ("the UK", Decimal("6.95"), "3 to 5"),
            "CH": ("Switzerland", Decimal("9.95"), "4 to 6"),
            "NO": ("Norway", Decimal("9.95"), "4 to 6"),
            "US": ("the United States", Decimal("12.95"), "5 to 8")}
NO_SHIPPING = ["Canada", "Australia", "Japan", "Brazil", "India", "South Africa"]
EU_FEE, FREE_FROM = Decimal("4.95"), 50
RETURN_DAYS, PLUS_RETURN_DAYS = 30, 60

SYSTEM_PROMPTS = [
    f"You are Sol, the customer support assistant of {COMPANY}, maker of the Lumo Mini, Classic "
    "and Pro smart lamps. Answer in one or two friendly sentences and only state Lumo policies.",
    f"You are Sol from {COMPANY} support. Be brief, friendly and accurate about Lumo lamps, "
    "orders, shipping and returns.",
    f"Role: Sol, {COMPANY}'s support assistant for Lumo smart lamps. Keep answers short and "
    "stick to company policy.",
]
PLUS_NOTE = " The customer is a Lumo Plus member (free shipping everywhere we ship, 60-day returns)."


def euros(value: Decimal | int) -> str:
    d = Decimal(value)
    return f"€{d:.2f}" if d != d.to_integral_value() else f"€{int(d)}"


def shipping_answer(country: str, total: int | None, plus: bool) -> str:
    """Policy: EU €4.95 (free from €50 of lamps), UK/CH/NO/US flat fees, elsewhere not yet."""
    if country in NO_SHIPPING:
        return (f"I'm sorry, we don't ship to {country} yet. We currently deliver to the EU, the "
                "UK, Switzerland, Norway and the United States.")
    if country in EU:
        days, fee, free_from = "2 to 4", EU_FEE, FREE_FROM
    else:
        key = next(k for k, v in SHIPPING.items() if v[0] == country)
        _, fee, days = SHIPPING[key]
        free_from = None
    if plus:
        return (f"As a Lumo Plus member you get free shipping to {country}; delivery takes "
                f"{days} working days.")
    if total is None:
        if free_from:
            return (f"Shipping to {country} costs {euros(fee)} and is free for orders from "
                    f"€{free_from}; delivery takes {days} working days.")
        return f"Shipping to {country} costs {euros(fee)}; delivery takes {days} working days."
    if free_from and total >= free_from:
        return (f"Your order comes to €{total}, so shipping to {country} is free (free from "
                f"€{free_from}); delivery takes {days} working days.")
    if free_from:
        return (f"Your order comes to €{total}, under the €{free_from} free-shipping threshold, "
                f"so shipping to {country} costs {euros(fee)}; delivery takes {days} working days.")
    return (f"Shipping to {country} costs {euros(fee)} whatever the order size, so your €{total} "
            f"order comes to {euros(total + fee)}; delivery takes {days} working days.")


def colour_list(colours: list[str]) -> str:
    return colours[0] if len(colours) == 1 else ", ".join(colours[:-1]) + " and " + colours[-1]


def cart_text(cart: dict[str, int]) -> str:
    parts = [f"{n} Lumo {p}" for p, n in cart.items()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def cart_total(cart: dict[str, int]) -> int:
    return sum(PRICES[p] * n for p, n in cart.items())


def cart_answer(cart: dict[str, int]) -> str:
    lines = [f"{n} × Lumo {p} ({euros(PRICES[p] * n)})" for p, n in cart.items()]
    return f"{' + '.join(lines)} comes to €{cart_total(cart)} before shipping."


def faq(rng: random.Random, plus: bool) -> tuple[str, str]:
    """A single question that needs no earlier context."""
    kind = rng.choice(["price", "warranty", "colours", "reset", "wifi", "hours", "shipping",
                       "returns", "compare", "offtopic", "app", "bulb"])
    p = rng.choice(list(PRODUCTS))
    info = PRODUCTS[p]
    if kind == "price":
        q = rng.choice(["How much is the Lumo {p}?", "What does the Lumo {p} cost?",
                        "price of the lumo {p}?", "Can you tell me the price of a Lumo {p}?"])
        return q.format(p=p), f"The Lumo {p} costs €{info['price']}."
    if kind == "warranty":
        q = rng.choice(["What warranty does the Lumo {p} have?", "How long is the Lumo {p} guaranteed?",
                        "Is there a warranty on the Lumo {p}?", "lumo {p} warranty length?"])
        return q.format(p=p), (f"The Lumo {p} has a {info['warranty']}-year warranty that covers "
                               "manufacturing defects.")
    if kind == "colours":
        q = rng.choice(["Which colours does the Lumo {p} come in?", "What colors can I get the Lumo {p} in?",
                        "Is the Lumo {p} available in different colours?"])
        return q.format(p=p), f"The Lumo {p} comes in {colour_list(info['colours'])}."
    if kind == "reset":
        q = rng.choice(["How do I factory reset my Lumo {p}?", "How can I reset a Lumo {p}?",
                        "My Lumo {p} is stuck, how do I reset it?"])
        return q.format(p=p), f"To reset your Lumo {p}, {info['reset']}, then pair it again in the {COMPANY} app."
    if kind == "wifi":
        q = rng.choice(["My lamp won't connect to my Wi-Fi.", "Why can't my Lumo lamp find my 5 GHz network?",
                        "The app says it can't join my wifi, what do I do?",
                        "Which Wi-Fi does the lamp support?"])
        return q, ("Lumo lamps only connect to 2.4 GHz Wi-Fi networks; switch your phone to the "
                   f"2.4 GHz network, keep it near the lamp and try pairing again in the {COMPANY} app.")
    if kind == "hours":
        q = rng.choice(["When is your support team available?", "What are your support hours?",
                        "Is support open at the weekend?", "How do I reach a human?"])
        return q, (f"Our support team answers Monday to Friday, 9:00 to 17:00 CET, at {EMAIL}; "
                   "they reply within one working day.")
    if kind == "shipping":
        country = rng.choice(EU + [v[0] for v in SHIPPING.values()] + NO_SHIPPING)
        q = rng.choice(["Do you ship to {c}?", "How much is shipping to {c}?", "What does delivery to {c} cost?",
                        "Shipping costs for {c}?"])
        return q.format(c=country), shipping_answer(country, None, plus)
    if kind == "returns":
        q = rng.choice(["What is your return policy?", "Can I return a lamp I don't like?",
                        "How many days do I have to return something?"])
        days = PLUS_RETURN_DAYS if plus else RETURN_DAYS
        who = "As a Lumo Plus member you can" if plus else "You can"
        return q, (f"{who} return any lamp within {days} days of delivery for a full refund; "
                   f"email {EMAIL} and we'll send a free return label.")
    if kind == "compare":
        a, b = rng.sample(list(PRODUCTS), 2)
        q = rng.choice(["What's the price difference between the Lumo {a} and the Lumo {b}?",
                        "How much more is the Lumo {a} than the Lumo {b}?",
                        "Lumo {a} vs Lumo {b}: which is cheaper?"])
        pa, pb = PRODUCTS[a]["price"], PRODUCTS[b]["price"]
        cheap, dear = (a, b) if pa < pb else (b, a)
        return q.format(a=a, b=b), (f"The Lumo {cheap} is €{abs(pa - pb)} cheaper: it costs "
                                    f"€{min(pa, pb)}, the Lumo {dear} €{max(pa, pb)}.")
    if kind == "app":
        q = rng.choice(["Which app do I need for the lamp?", "Is there an app to control my Lumo?",
                        "How do I update the lamp's firmware?"])
        if "firmware" in q:
            return q, (f"Open the {COMPANY} app and go to Settings, Device, Firmware; the update "
                       "takes about two minutes and the lamp restarts by itself.")
        return q, (f"Use the free {COMPANY} app for iOS and Android: it pairs over Bluetooth and "
                   "then controls the lamp over Wi-Fi.")
    if kind == "bulb":
        q = rng.choice(["Can I replace the bulb in my Lumo {p}?", "How do I change the light bulb of a Lumo {p}?"])
        return q.format(p=p), ("Lumo lamps use built-in LEDs rated for 25,000 hours, so there is "
                               "no bulb to replace; if the light fails, it's covered by the warranty.")
    q = rng.choice(["What's the weather like in Paris today?", "Can you help me with my maths homework?",
                    "Write me a poem about cats.", "Who will win the football tonight?",
                    "Can you recommend a good restaurant?"])
    return q, ("I'm Sol, the Lumo Home support assistant, so I can only help with Lumo lamps, "
               "orders, shipping and returns.")


def order_number(rng: random.Random) -> str:
    return f"LH-{rng.randint(100000, 999999)}"


def chat_row(rng: random.Random, names: tuple[str, str]) -> tuple[str, list[dict], str, str]:
    """(system prompt, history, prompt, completion) for one conversation."""
    plus = rng.random() < 0.3
    system = rng.choice(SYSTEM_PROMPTS) + (PLUS_NOTE if plus else "")
    user, model = names
    history: list[dict] = []

    def say(u: str, m: str) -> None:
        history.append({"content": u, "role": user})
        history.append({"content": m, "role": model})

    scenario = rng.choices(["faq", "owned", "cart", "order"], weights=[30, 25, 25, 20])[0]
    if scenario == "faq":
        for _ in range(rng.choice([0, 0, 1, 2])):
            say(*faq(rng, plus))
        q, a = faq(rng, plus)
        return system, history, q, a

    if scenario == "owned":
        p = rng.choice(list(PRODUCTS))
        info = PRODUCTS[p]
        opener = rng.choice(["I have a Lumo {p}.", "Hi, I bought the Lumo {p} last month.",
                             "Hello! Question about my Lumo {p}.", "I own a {p} from you."])
        say(opener.format(p=p), f"Thanks! What can I help you with on your Lumo {p}?")
        if rng.random() < 0.3:
            say(*faq(rng, plus))
        kind = rng.choice(["warranty", "colours", "reset", "price", "upgrade"])
        if kind == "warranty":
            q = rng.choice(["How long is the warranty on it?", "Is mine still under warranty after 2.5 years?",
                            "What warranty does mine have?"])
            if "2.5" in q:
                a = (f"Yes, your Lumo {p} has a 3-year warranty, so after 2.5 years it is still covered."
                     if info["warranty"] == 3 else
                     f"No, the Lumo {p}'s warranty lasts 2 years, so after 2.5 years it has ended.")
            else:
                a = f"Your Lumo {p} has a {info['warranty']}-year warranty that covers manufacturing defects."
        elif kind == "colours":
            q = rng.choice(["Which colours does it come in? I want a second one.",
                            "What other colours are there for that model?"])
            a = f"The Lumo {p} comes in {colour_list(info['colours'])}."
        elif kind == "reset":
            q = rng.choice(["How do I reset it?", "It stopped responding. How do I factory reset it?",
                            "What's the reset procedure for mine?"])
            a = f"To reset your Lumo {p}, {info['reset']}, then pair it again in the {COMPANY} app."
        elif kind == "price":
            q = rng.choice(["How much would another one cost?", "What's the price if I buy a second?"])
            a = f"Another Lumo {p} costs €{info['price']}."
        else:
            better = [o for o in PRODUCTS if PRODUCTS[o]["price"] > info["price"]]
            q = rng.choice(["How much more is the next model up?", "What would upgrading cost me?"])
            if not better:
                a = f"The Lumo {p} is already our top model, so there's nothing to upgrade to."
            else:
                o = better[0]
                a = (f"The next model up is the Lumo {o} at €{PRODUCTS[o]['price']}, "
                     f"€{PRODUCTS[o]['price'] - info['price']} more than the Lumo {p}.")
        return system, history, q, a

    if scenario == "cart":
        pool = rng.choice([list(PRODUCTS), list(ACCESSORIES), list(PRICES)])
        chosen = rng.sample(pool, min(len(pool), rng.choice([1, 1, 2])))
        cart = {p: rng.randint(1, 3) for p in sorted(chosen, key=list(PRICES).index)}
        opener = rng.choice(["I'd like to order {c}.", "I want to buy {c}. What's the total?",
                             "Thinking of getting {c}.", "How much would {c} be?"])
        say(opener.format(c=cart_text(cart)), cart_answer(cart))
        country = rng.choice(EU * 2 + [v[0] for v in SHIPPING.values()] + NO_SHIPPING[:3])
        q = rng.choice(["What would shipping to {c} cost for that?", "Is shipping to {c} free for this order?",
                        "And delivery to {c}?", "I live in {c}. How much is shipping?"])
        return system, history, q.format(c=country), shipping_answer(country, cart_total(cart), plus)

    order = order_number(rng)
    days = rng.randint(1, 75)
    opener = rng.choice(["My order {o} arrived {d} days ago.", "Hi, order {o} was delivered {d} days ago.",
                         "I received order {o} {d} days ago."])
    say(opener.format(o=order, d=days), f"Thanks, I've noted order {order}. How can I help?")
    kind = rng.choice(["return", "return", "where", "invoice"])
    if kind == "return":
        q = rng.choice(["Can I still return it?", "I changed my mind, can I send it back?",
                        "Is it too late to return the lamp?"])
        limit = PLUS_RETURN_DAYS if plus else RETURN_DAYS
        if days == limit:
            a = (f"Yes, but today is the last day of the {limit}-day return window; email {EMAIL} "
                 f"with order {order} today for a free return label.")
        elif days < limit:
            a = (f"Yes, returns are accepted within {limit} days of delivery, so you have "
                 f"{limit - days} day{'s' if limit - days != 1 else ''} left; email {EMAIL} with "
                 f"order {order} for a free return label.")
        else:
            a = (f"I'm sorry, order {order} was delivered {days} days ago, past the {limit}-day return "
                 f"window; if the lamp is faulty, the warranty still covers it via {EMAIL}.")
    elif kind == "where":
        q = rng.choice(["One lamp is missing from the box. What now?",
                        "Can you check what happened with it? Something's missing."])
        a = (f"I can't look up orders in this chat, but our team can: email {EMAIL} with order "
             f"{order} and a photo of the box, and they reply within one working day.")
    else:
        q = rng.choice(["Where can I find the invoice?", "I need an invoice for that order."])
        a = (f"Open the {COMPANY} app or website, go to Account, Orders, select {order} and tap "
             "Download invoice.")
    return system, history, q, a


def make_chat(out: Path, rng: random.Random, n: int = 2400) -> int:
    rows = []
    for _ in range(n):
        names = ("customer", "agent") if rng.random() < 0.4 else ("user", "assistant")
        system, history, prompt, completion = chat_row(rng, names)
        roles = {"user": names[0], "model": names[1]}
        rows.append([prompt, completion, system, json.dumps(history, ensure_ascii=False),
                     json.dumps(roles)])
    write_csv(out / "chat.csv", ["prompt", "completion", "system_prompt", "prompt_history", "roles"], rows)
    return len(rows)


# =================================================================================================
# text_classification: product reviews whose sentiment and topic are set by what they say
# =================================================================================================

# Nouns by kind, so that a review never cleans a phone case or charges a yoga mat.
GADGETS = ["blender", "desk lamp", "kettle", "pair of headphones", "coffee grinder", "toaster",
           "bike light", "keyboard", "electric toothbrush", "hair dryer"]
TEXTILES = ["backpack", "rain jacket", "office chair", "yoga mat", "suitcase", "sleeping bag"]
KITCHEN = ["blender", "kettle", "coffee grinder", "toaster", "frying pan", "juicer"]
PRODUCT_NOUNS = sorted(set(GADGETS + TEXTILES + KITCHEN + ["phone case", "water bottle"]))
PEOPLE = ["my sister", "my dad", "a friend", "my partner", "our office", "my son", "myself"]

REVIEWS = {
    ("shipping", "positive"): [
        "The {p} arrived {n} days earlier than promised and was packed really well.",
        "Delivery was lightning fast, the {p} was at my door the next morning.",
        "Great courier, tracking updates all the way and the {p} came in perfect condition.",
        "Ordered on Monday, the {p} was here by Wednesday. Brilliant delivery.",
        "The parcel was well protected with plenty of padding, not a scratch on the {p}.",
        "Super quick shipping and the box with the {p} was left exactly where I asked.",
    ],
    ("shipping", "negative"): [
        "The {p} took {w} weeks to arrive and the box was crushed.",
        "Delivery was a disaster: the parcel went to the wrong address twice.",
        "Still waiting for my {p} after {w} weeks, tracking has not updated since it left the warehouse.",
        "The courier threw the box over the fence and the {p} arrived dented.",
        "Shipping was painfully slow and nobody told me about the delay.",
        "My {p} arrived in a soaked, torn box with half the packaging missing.",
    ],
    ("shipping", "neutral"): [
        "The {p} arrived on the date given at checkout.",
        "Delivery took {n} days, as stated on the website.",
        "The parcel came by standard post in a plain cardboard box.",
        "Tracking showed the {p} in transit for {n} days before it was delivered.",
        "It was delivered to the neighbour because I was out, which is how the courier works here.",
        "The {p} came in two separate parcels on the same day.",
    ],
    ("quality", "positive"): [
        "The {p} feels solid and well made, the finish is excellent.",
        "After {m} months of daily use the {p} still works like new.",
        "Really sturdy {p}, the materials are much better than I expected.",
        "Excellent build quality, every part of the {p} fits perfectly.",
        "This {p} is built to last, I've dropped it twice and it is still flawless.",
        "The stitching and the materials on this {t} are top notch.",
    ],
    ("quality", "negative"): [
        "The {p} broke after {n} days of normal use.",
        "Cheap plastic, the {g} cracked the first time I used it.",
        "The {g} stopped working after {w} weeks, the material feels flimsy.",
        "Poorly made: a part fell off the {p} straight out of the box.",
        "The {p} started falling apart within a month, very low quality.",
        "The seams of the {t} split after a single use and the coating peels off.",
    ],
    ("quality", "neutral"): [
        "The {g} is made of plastic with a metal base.",
        "The material of the {p} is what you would expect, nothing more.",
        "The {p} does what it should; the build is ordinary.",
        "Build quality of the {p} is average for this type of product.",
        "The {g} weighs about {k} kilograms and the finish is matte.",
        "The {g} is mostly plastic, with a rubber grip on the side.",
    ],
    ("price", "positive"): [
        "Great value for money, the {p} was half the price of the one in the shop.",
        "For only {e} euros this {p} is a bargain.",
        "Very reasonably priced {p}, I would happily have paid more.",
        "Cheaper than anywhere else I looked and the discount made the {p} a steal.",
        "Excellent price for what you get, the {p} is worth every cent.",
        "I got the {p} on sale for {e} euros, an unbeatable deal.",
    ],
    ("price", "negative"): [
        "Far too expensive for a {p} like this, not worth {e} euros.",
        "Overpriced: the same {p} costs half as much elsewhere.",
        "The price went up by {n} euros the day after I ordered, what a rip-off.",
        "At {e} euros the {p} is way overpriced for what it is.",
        "Hidden fees at checkout made the {p} much more expensive than advertised.",
        "I feel cheated by the price, a {p} should never cost {e} euros.",
    ],
    ("price", "neutral"): [
        "The {p} cost {e} euros, which is the usual price.",
        "I paid {e} euros for the {p}, including tax.",
        "The price of the {p} is similar to other shops.",
        "The {p} was {e} euros; there was no discount at the time.",
        "The {p} sells for about the same price as last year.",
        "Paid {e} euros for the {p} with a standard card payment.",
    ],
    ("support", "positive"): [
        "Customer service answered within an hour and sorted out my problem with the {p}.",
        "The support team was friendly and sent a replacement {p} right away.",
        "Had an issue with the {p}, support called me back the same day and fixed it.",
        "Really helpful staff, they explained how to set up the {g} step by step.",
        "Support replaced the faulty {p} without any questions. Fantastic service.",
        "The help desk was patient and solved my issue with the {p} in {n} minutes.",
    ],
    ("support", "negative"): [
        "Customer service ignored my {n} emails about the broken {p}.",
        "Support was rude and refused to help with the {p}.",
        "I have been on hold for {n} minutes three times and nobody ever answers.",
        "The help desk keeps closing my ticket about the {p} without a reply.",
        "Useless support: they promised a refund for the {p} and never sent it.",
        "Support sent me the same copy-paste answer {n} times and never fixed anything.",
    ],
    ("support", "neutral"): [
        "I contacted support about the {p} and they asked for my order number.",
        "Customer service replied after {n} days with a link to the manual.",
        "Support told me to send photos of the {p} before they can decide.",
        "I emailed the help desk about the {p} and got an automatic reply with a ticket number.",
        "Support asked me to reset the {g} and write back if the problem continues.",
        "The service team forwarded my question about the {p} to another department.",
    ],
    ("usability", "positive"): [
        "The {g} is so easy to use, I figured it out in {n} minutes without the manual.",
        "Setting up the {g} was simple and intuitive.",
        "Very user friendly {g}, even {r} can use it without help.",
        "The controls on the {g} are clear and convenient, a joy to use every day.",
        "Cleaning the {c} takes seconds, everything comes apart easily.",
        "The {p} is light and comfortable to use, I love how practical it is.",
    ],
    ("usability", "negative"): [
        "The {g} is confusing to use, the buttons make no sense.",
        "Setting up the {g} took me {n} hours and the instructions are useless.",
        "Awkward and uncomfortable to use, I dread using the {p} every day.",
        "The {c} is a pain to clean, food gets stuck everywhere.",
        "The app for the {g} crashes constantly and pairing is a nightmare.",
        "Too complicated: even {r} could not work out how to use the {g}.",
    ],
    ("usability", "neutral"): [
        "The {g} has three buttons and a small display.",
        "Setting up the {g} takes about {n} minutes following the manual.",
        "The {g} can be used with the app or with the buttons on the side.",
        "The {c} needs to be cleaned by hand after each use.",
        "The instructions for the {p} come in four languages.",
        "The {g} has to be charged for {n} hours before first use.",
    ],
}

# A few reviews in German, French and Spanish (same labels, a third of the cells each).
FOREIGN = {
    ("shipping", "positive"): ["Die Lieferung war super schnell, das Paket kam schon nach {n} Tagen.",
                               "Livraison très rapide, le colis est arrivé en parfait état.",
                               "El envío fue rapidísimo y el paquete llegó perfectamente embalado."],
    ("shipping", "negative"): ["Die Lieferung hat {w} Wochen gedauert und der Karton war kaputt.",
                               "Le colis est arrivé avec {w} semaines de retard et tout abîmé.",
                               "El paquete tardó {w} semanas y llegó aplastado."],
    ("shipping", "neutral"): ["Das Paket kam am angegebenen Liefertermin mit der Post.",
                              "Le colis a été livré par la poste à la date prévue.",
                              "El pedido llegó por correo en la fecha indicada."],
    ("quality", "positive"): ["Sehr gute Verarbeitung, das Material ist hochwertig und stabil.",
                              "Excellente qualité, le produit est solide et bien fini.",
                              "Muy buena calidad, se nota que está bien fabricado."],
    ("quality", "negative"): ["Nach {n} Tagen ist es kaputt gegangen, billiges Plastik.",
                              "Mauvaise qualité, il s'est cassé au bout de {n} jours.",
                              "Se rompió a los {n} días, el material es de muy mala calidad."],
    ("quality", "neutral"): ["Das Gehäuse ist aus Kunststoff, die Verarbeitung ist durchschnittlich.",
                             "Le produit est en plastique, la finition est correcte sans plus.",
                             "Es de plástico y la calidad es la normal para este precio."],
    ("price", "positive"): ["Für {e} Euro ein echtes Schnäppchen, top Preis-Leistung.",
                            "Excellent rapport qualité-prix, une vraie bonne affaire à {e} euros.",
                            "Una ganga por {e} euros, muy buena relación calidad-precio."],
    ("price", "negative"): ["Viel zu teuer, {e} Euro sind dafür nicht gerechtfertigt.",
                            "Beaucoup trop cher, {e} euros pour ça c'est du vol.",
                            "Demasiado caro, no vale los {e} euros que cuesta."],
    ("price", "neutral"): ["Ich habe {e} Euro bezahlt, das ist der übliche Preis.",
                           "Je l'ai payé {e} euros, le prix habituel.",
                           "Pagué {e} euros, el precio normal."],
    ("support", "positive"): ["Der Kundenservice hat sofort geantwortet und das Problem gelöst.",
                              "Le service client a répondu en une heure et a tout réglé.",
                              "El servicio de atención al cliente respondió enseguida y lo solucionó todo."],
    ("support", "negative"): ["Der Kundendienst hat auf {n} E-Mails nie geantwortet.",
                              "Le service client n'a jamais répondu à mes {n} e-mails.",
                              "Atención al cliente nunca contestó a mis {n} correos."],
    ("support", "neutral"): ["Der Support hat nach meiner Bestellnummer gefragt.",
                             "Le support m'a demandé mon numéro de commande.",
                             "El soporte me pidió el número de pedido."],
    ("usability", "positive"): ["Sehr einfach zu bedienen, in {n} Minuten eingerichtet.",
                                "Très facile à utiliser, installé en {n} minutes.",
                                "Muy fácil de usar, lo configuré en {n} minutos."],
    ("usability", "negative"): ["Die Bedienung ist umständlich und die Anleitung unverständlich.",
                                "L'utilisation est compliquée et la notice incompréhensible.",
                                "Es muy complicado de usar y las instrucciones no se entienden."],
    ("usability", "neutral"): ["Das Gerät hat drei Tasten und ein kleines Display.",
                               "L'appareil a trois boutons et un petit écran.",
                               "El aparato tiene tres botones y una pequeña pantalla."],
}

OPENERS = ["", "", "", "I bought this {p} for {q}. ", "Ordered the {p} in {mo}. ",
           "Second purchase from this shop. ", "Update after {w} weeks: ", "Bought it as a gift. ",
           "Review of the {p}: "]


def make_text_classification(out: Path, rng: random.Random, n: int = 3000) -> int:
    keys = list(REVIEWS)
    rows = []
    seen: set[str] = set()
    for i in range(n):
        topic, sentiment = keys[i % len(keys)]
        while True:  # no duplicate texts, so a train/test split never shares a review
            foreign = rng.random() < 0.08
            template = rng.choice((FOREIGN if foreign else REVIEWS)[(topic, sentiment)])
            kinds = {"{g}": GADGETS, "{t}": TEXTILES, "{c}": KITCHEN}
            nouns = next((v for k, v in kinds.items() if k in template), PRODUCT_NOUNS)
            noun = rng.choice(nouns)
            slots = {
                "p": noun, "g": noun, "t": noun, "c": noun, "q": rng.choice(PEOPLE),
                "r": rng.choice(["my grandmother", "my kids", "my dad", "my neighbour"]),
                "n": rng.randint(2, 12), "w": rng.randint(2, 6), "m": rng.randint(3, 18),
                "e": rng.choice([15, 25, 39, 49, 79, 120, 199]),
                "k": rng.choice(["1.2", "2.5", "3", "0.8"]), "mo": rng.choice(MONTHS),
            }
            text = template.format(**slots)
            if not foreign:
                text = rng.choice(OPENERS).format(**slots) + text
                text = text[0].upper() + text[1:]
            if text not in seen:
                seen.add(text)
                break
        sentiment_cell, topic_cell = sentiment, topic
        roll = rng.random()
        if roll < 0.03:
            topic_cell = ""  # labelled for sentiment only
        elif roll < 0.05:
            sentiment_cell = ""  # labelled for topic only
        rows.append([text, sentiment_cell, topic_cell])
    rng.shuffle(rows)
    write_csv(out / "text_classification.csv", ["text_data", "sentiment", "topic"], rows)
    return len(rows)


# =================================================================================================
# image_classification: scikit-learn's bundled handwritten digits as 32x32 PNGs in a zip
# =================================================================================================


def make_images(out: Path, size: int = 32) -> int:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()  # 1,797 images of 8x8 pixels, values 0..16, shipped with scikit-learn
    rows = []
    with zipfile.ZipFile(out / "images.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (pixels, target) in enumerate(zip(digits.images, digits.target)):
            # White background, dark ink, as the digits look on paper.
            ink = (255 - pixels * (255 / 16)).round().astype(np.uint8)
            image = Image.fromarray(ink, mode="L").resize((size, size), Image.Resampling.BICUBIC)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", optimize=True)
            name = f"digits/{index:04d}.png"
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED  # PNGs are compressed already
            archive.writestr(info, buffer.getvalue())
            digit = int(target)
            rows.append([name, str(digit), "even" if digit % 2 == 0 else "odd"])
    write_csv(out / "image_classification.csv", ["image", "digit", "parity"], rows)
    return len(rows)


def main(out: Path = DEFAULT_OUT) -> dict[str, int]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {
        "text.csv": make_text(out, random.Random(SEED)),
        "chat.csv": make_chat(out, random.Random(SEED + 1)),
        "text_classification.csv": make_text_classification(out, random.Random(SEED + 2)),
        "image_classification.csv": make_images(out),
    }
    return counts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write into")
    args = parser.parse_args()
    for name, rows in main(args.out).items():
        print(f"{args.out / name}: {rows} rows")
