#!/usr/bin/env python3
"""Writes a development set for retrieval and memory reading with hard negatives, in the public
eval sets' format ({about, references: [{id, text}], questions: [{ref, prompt, answer, kind}]}),
so that retrievers and fusion weights are chosen on questions nobody tests with (the public sets
in ../shared/eval stay for the final measurement).

Like the public hard set, references come in groups of siblings that share a region, a decade and
a kind of thing, each with its own builder, year, colour, count and named feature; each group also
has a decoy page (a visitor centre) that repeats the group's words without any answer. Questions:
  direct      names the thing and asks one attribute,
  paraphrase  asks it in other words than the reference's,
  multihop    names the thing only by another attribute it alone has (its colour).
The kinds of things (lighthouses, breweries, observatories, ferries, mountain huts, choirs) and the
wording are not the public sets'.

    python3 scripts/make-retrieval-set.py [--groups 40] [--seed 5] [--out data/retrieval-dev.json]
"""
import argparse
import json
import os
import random

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYLLABLES = ["bra", "ke", "lom", "vi", "dor", "sa", "quin", "ta", "mel", "oru", "fen", "gal", "hes", "ix", "jor",
             "pa", "rud", "sy", "tov", "ule", "wen", "yar", "zo", "cre", "dli", "esk", "fro", "gny"]
COLOURS = ["scarlet", "cobalt", "amber", "jade", "violet", "copper", "ivory", "slate", "saffron", "teal"]
KINDS = [
    # kind, place word, builder role, verb, feature noun, count noun, paraphrases (builder, year, count)
    ("lighthouse", "coast", "engineer", "lit", "lens", "steps", ("designed", "first shone", "stairs")),
    ("brewery", "valley", "brewer", "opened", "kettle", "barrels a week", ("started", "began brewing", "weekly barrels")),
    ("observatory", "plateau", "astronomer", "founded", "telescope", "nights of clear sky a year", ("set up", "opened its dome", "clear nights")),
    ("ferry", "fjord", "shipwright", "launched", "engine", "passengers", ("built", "first crossed", "travellers it carries")),
    ("mountain hut", "range", "guide", "raised", "stove", "bunks", ("put up", "first welcomed climbers", "beds")),
    ("choir", "province", "cantor", "formed", "anthem", "singers", ("gathered", "first sang", "voices")),
]


def word(rng, parts=2):
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def upper_first(text):
    return text[0].upper() + text[1:]


def make(groups, seed):
    rng = random.Random(seed)
    references, questions = [], []
    for g in range(groups):
        kind, place_word, role, verb, feature, count_noun, (p_builder, p_year, p_count) = KINDS[g % len(KINDS)]
        region = f"{word(rng, 3)} {place_word}"
        decade = rng.randrange(1700, 1950, 10)
        colours = rng.sample(COLOURS, 4)
        siblings = []
        for s in range(rng.randint(3, 4)):
            name = f"the {word(rng)} {kind}"
            builder = f"{word(rng)} {word(rng, 3)}"
            year = decade + rng.randrange(10)
            count = rng.randint(12, 980)
            feature_name = word(rng, 3)
            colour = colours[s]
            layouts = [
                f"{upper_first(name)} on the {region} was {verb} in {year} by the {role} {builder}. Its {feature}, called {feature_name}, "
                f"is painted {colour}, and it counts {count} {count_noun}. Locals still tell stories about {builder}.",
                f"Few places on the {region} are as loved as {name}. The {role} {builder} {verb} it in {year}; today it has {count} "
                f"{count_noun}. Look for the {colour} {feature} known as {feature_name}.",
                f"{upper_first(name)} ({region}, {year}). {role.capitalize()}: {builder}. {feature.capitalize()}: {feature_name}, {colour}. "
                f"Size: {count} {count_noun}.",
            ]
            rid = len(references)
            references.append({"id": rid, "text": rng.choice(layouts)})
            siblings.append((rid, name, builder, year, count, feature_name, colour))
        decoy = (f"The visitor centre of the {region} explains every {kind} of the region, from the first ones {verb} in the "
                 f"{decade}s to today. Panels show {role}s at work, a {feature} in {', '.join(colours[:3])} and a model of a {kind} "
                 f"with its {count_noun}. Entry is free for children.")
        references.append({"id": len(references), "text": decoy})
        for rid, name, builder, year, count, feature_name, colour in siblings:
            questions += [
                {"ref": rid, "prompt": f"{upper_first(name)} on the {region} was {verb} in the year", "answer": f" {year}", "kind": "direct"},
                {"ref": rid, "prompt": f"The {role} who {p_builder} {name} was", "answer": f" {builder}", "kind": "paraphrase"},
                {"ref": rid, "prompt": f"The {kind} of the {region} whose {feature} is {colour} {p_year} in the year", "answer": f" {year}",
                 "kind": "multihop"},
                {"ref": rid, "prompt": f"The {feature} of the {kind} on the {region} painted {colour} is called", "answer": f" {feature_name}",
                 "kind": "multihop"},
            ]
    return {"about": f"Development set (scripts/make-retrieval-set.py, seed {seed}): hard-negative groups sharing region, decade "
                     f"and kind, with a decoy page each; for choosing retrievers and weights, never the public sets.",
            "references": references, "questions": questions}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(ROOT, "data", "retrieval-dev.json"))
    args = parser.parse_args()
    data = make(args.groups, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1)
    kinds = {}
    for q in data["questions"]:
        kinds[q["kind"]] = kinds.get(q["kind"], 0) + 1
    print(f"{args.out}: {len(data['references'])} references, {len(data['questions'])} questions {kinds}")


if __name__ == "__main__":
    main()
