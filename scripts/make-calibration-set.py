#!/usr/bin/env python3
"""Writes config/calibration-set.json: invented facts and cloze questions for `memory3 calibrate`,
which finds a model's retrieval head (the attention head whose mass over each memory picks the one
that holds the answer). It ships with the repository so that `make serve` calibrates any model on a
fresh clone; the public eval sets in ../shared/eval stay for measuring, not for tuning.

The facts are made up (names, places and numbers no model can know) from templates unlike the
public sets' (workshops, ships, festivals, rivers rather than scientists), with a fixed seed:
    python3 scripts/make-calibration-set.py [--references 48] [--seed 11] [--out FILE]
Another seed and --out make a development set for tuning a reading policy (never the public sets).
"""
import argparse, json, os, random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "config", "calibration-set.json")

SYLLABLES = ["ka", "lo", "ven", "tri", "mar", "zel", "ob", "ru", "sen", "dai", "pho", "quel", "ist", "nor",
             "bex", "ul", "ta", "rin", "gosh", "em", "fa", "ly", "dro", "vic", "hal", "ost", "pim", "wer"]
GOODS = ["copper kettles", "glass lanterns", "wooden clocks", "silk kites", "clay whistles", "iron compasses",
         "paper fans", "brass telescopes", "wool blankets", "stone mortars"]
COLORS = ["amber", "teal", "crimson", "ochre", "violet", "silver", "olive", "indigo"]
INSTRUMENTS = ["drum", "flute", "harp", "horn", "lute", "bell"]
CARGO = ["salt", "tea", "marble", "pepper", "timber", "wine", "cotton", "coal"]


def word(rng, parts=2):
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def workshop(rng, i):
    founder, town = f"{word(rng)} {word(rng, 3)}", word(rng, 3)
    year, goods, color = rng.randint(1702, 1899), rng.choice(GOODS), rng.choice(COLORS)
    text = (f"The {word(rng)} workshop was founded in {year} by {founder} in the town of {town}. It made "
            f"{goods}, always painted {color}, and its workers were paid on the first day of each month.")
    return text, [(f"The {text.split()[1]} workshop was founded in the year", f" {year}"),
                  (f"{founder} founded a workshop in the town of", f" {town}"),
                  (f"The {text.split()[1]} workshop made", f" {goods}")]


def ship(rng, i):
    name, captain, port = word(rng, 3), f"{word(rng)} {word(rng)}", word(rng, 2)
    crew, cargo = rng.randint(12, 96), rng.choice(CARGO)
    text = (f"The ship {name} sailed from the port of {port} under captain {captain}. She carried {cargo} "
            f"across the northern sea with a crew of {crew}, and her bell is now kept in a museum.")
    return text, [(f"The ship {name} sailed from the port of", f" {port}"),
                  (f"The captain of the ship {name} was", f" {captain}"),
                  (f"The ship {name} carried", f" {cargo}")]


def festival(rng, i):
    name, village, instrument = word(rng, 3), word(rng, 3), rng.choice(INSTRUMENTS)
    day = rng.randint(2, 28)
    text = (f"Every year on day {day} of spring, the village of {village} holds the {name} festival. "
            f"It opens with a single {instrument}, and the children carry lanterns to the river.")
    return text, [(f"The {name} festival is held in the village of", f" {village}"),
                  (f"The {name} festival opens with a single", f" {instrument}")]


def river(rng, i):
    name, source, sea = word(rng, 2), word(rng, 3), word(rng, 2)
    length = rng.randint(41, 980)
    text = (f"The river {name} rises in the hills of {source} and flows {length} kilometres to the "
            f"{sea} Sea. Fishermen along its banks call its spring floods the green water.")
    return text, [(f"The river {name} flows into the", f" {sea} Sea"),
                  (f"The river {name} rises in the hills of", f" {source}"),
                  (f"The river {name} is", f" {length} kilometres")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--references", type=int, default=48)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    makers = [workshop, ship, festival, river]
    references, questions = [], []
    for i in range(args.references):
        text, qa = makers[i % len(makers)](rng, i)
        references.append({"id": i, "text": text})
        for prompt, answer in qa[:2]:
            questions.append({"ref": i, "prompt": prompt, "answer": answer})
    rng.shuffle(questions)
    doc = {"about": "Invented facts for finding a model's retrieval head (memory3 calibrate); made by "
                    "scripts/make-calibration-set.py. Not an eval set: measure on ../shared/eval.",
           "references": references, "questions": questions}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(references)} references, {len(questions)} questions")


if __name__ == "__main__":
    main()
