#!/usr/bin/env python3
"""Writes a training set for a retriever that must bind an attribute to its part: groups of sibling
things (same place, kind and decade) whose parts carry the same handful of colours and materials,
each sibling with its own assignment (a Latin square: every value is on every sibling, each
(part, value) pair on one sibling only). A question that names a thing by "the rook with amber
wings" is then answered by one reference while every sibling holds the words "amber" and "wings".
Written after looking at which hard-set questions the hybrid retriever misses (attribute binding,
docs/retrieval.md); the kinds of things, the parts and the wording are this script's own, many of
them, each sentence drawn from several phrasings, so that a model trained on it cannot lean on one
template. Same format as the eval sets. For training only: choose on a set from another generator
(`make-retrieval-set.py`, seed 5), measure on the public sets.

    python3 scripts/make-binding-set.py --seed 2001 --out /tmp/binding-2001.json [--groups 40]
"""
import argparse
import json
import os
import random

SYLLABLES = ["ar", "bel", "cor", "dun", "el", "fir", "gor", "hal", "ith", "jun", "kel", "lor", "mun", "nor", "om",
             "pel", "qua", "ros", "sil", "tur", "umb", "val", "wyn", "xan", "yor", "zel", "bri", "dro", "fla", "gli"]
COLOURS = ["amber", "azure", "crimson", "emerald", "golden", "grey", "indigo", "lilac", "maroon", "olive", "pearl",
           "rust", "sable", "scarlet", "silver", "teal", "umber", "white"]
MATERIALS = ["oak", "pine", "brass", "bronze", "copper", "iron", "marble", "granite", "slate", "glass", "linen",
             "leather", "silk", "clay", "cedar", "tin"]
# kind, place noun, maker role, verb (past), verb for questions, parts (colour or material), count noun
KINDS = [
    ("castle", "valley", "architect", "built", "raised", ["towers", "gate", "roof", "banner"], "rooms"),
    ("galleon", "harbour", "shipwright", "launched", "built", ["hull", "sails", "figurehead", "flag"], "cannons"),
    ("rook", "marsh", "naturalist", "described", "first recorded", ["wings", "beak", "legs", "crest"], "nesting pairs"),
    ("orchid", "forest", "botanist", "named", "first catalogued", ["petals", "stem", "leaves", "roots"], "known plants"),
    ("monastery", "hills", "abbot", "founded", "established", ["bell", "doors", "cloister", "chapel roof"], "monks"),
    ("theatre", "city", "impresario", "opened", "started", ["curtain", "seats", "ceiling", "balconies"], "seats in all"),
    ("locomotive", "railway", "engineer", "designed", "drew up", ["boiler", "wheels", "cab", "chimney"], "tonnes"),
    ("tapestry", "guild town", "weaver", "finished", "completed", ["border", "sky", "horses", "lettering"], "threads per inch"),
    ("clock tower", "square", "clockmaker", "completed", "finished", ["face", "hands", "spire", "bell"], "steps"),
    ("carriage", "court", "coachbuilder", "made", "constructed", ["wheels", "doors", "harness", "roof"], "passengers"),
    ("lighthouse keeper's cottage", "headland", "mason", "built", "put up", ["shutters", "chimney", "door", "fence"], "windows"),
    ("beetle", "grassland", "entomologist", "described", "first named", ["wing cases", "antennae", "legs", "belly"], "specimens"),
    ("organ", "cathedral town", "organ builder", "installed", "set up", ["pipes", "case", "keys", "pedals"], "stops"),
    ("windmill", "plain", "millwright", "raised", "erected", ["sails", "cap", "tower", "door"], "sacks a day"),
    ("violin", "workshop quarter", "luthier", "made", "crafted", ["scroll", "back", "pegs", "bridge"], "owners"),
    ("garden", "estate", "gardener", "laid out", "planned", ["gates", "fountain", "benches", "hedges"], "acres"),
    ("glacier hut", "pass", "mountaineer", "built", "put up", ["walls", "roof", "stove", "door"], "bunks"),
    ("comet", "observatory region", "astronomer", "discovered", "first saw", ["tail", "coma", "nucleus", "halo"], "sightings"),
]
PART_SENTENCES = [
    "Its {part} {be} {value}.", "The {part} {be} {value}.", "Look for the {value} {part}.", "{Part}: {value}.",
    "Visitors remember the {value} {part}.", "The {part}, {value}, {be} the first thing people notice.",
]
PAIR_SENTENCES = [
    "It has {v1} {p1} and {v2} {p2}.", "The {p1} {be1} {v1}, while the {p2} {be2} {v2}.", "{V1} {p1}, {v2} {p2}.",
    "Note the {v1} {p1}; the {p2} {be2} {v2}.",
]


def word(rng, parts=2):
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def upper_first(text):
    """The name at the start of a sentence."""
    return text[0].upper() + text[1:]


def be(part):
    """'is' or 'are' for a part's name (plural parts end in s; a few are mass nouns)."""
    return "are" if part.endswith("s") and not part.endswith("ss") else "is"


def sentence_for(rng, parts):
    """One or two (part, value) pairs as a sentence in one of several phrasings."""
    if len(parts) == 2:
        (p1, v1), (p2, v2) = parts
        text = rng.choice(PAIR_SENTENCES)
        return text.format(p1=p1, v1=v1, p2=p2, v2=v2, V1=v1.capitalize(), be1=be(p1), be2=be(p2))
    (part, value), = parts
    return rng.choice(PART_SENTENCES).format(part=part, Part=part.capitalize(), value=value, be=be(part))


def make(groups, seed):
    rng = random.Random(seed)
    references, questions = [], []
    for g in range(groups):
        kind, place_noun, role, verb, q_verb, parts, count_noun = KINDS[rng.randrange(len(KINDS))]
        place = f"{word(rng, 3)} {place_noun}"
        decade = rng.randrange(1600, 1980, 10)
        siblings = rng.randint(3, 4)
        chosen = rng.sample(parts, min(len(parts), siblings))
        pool = rng.sample(COLOURS if rng.random() < 0.6 else MATERIALS, len(chosen))
        shift = rng.sample(range(len(chosen)), siblings) if siblings <= len(chosen) else list(range(siblings))
        facts = []
        for s in range(siblings):
            name = f"the {word(rng)} {kind}"
            maker = f"{word(rng)} {word(rng, 3)}"
            year = decade + rng.randrange(10)
            count = rng.randint(3, 9000)
            assigned = [(part, pool[(i + shift[s]) % len(pool)]) for i, part in enumerate(chosen)]
            sentences = [rng.choice([
                f"{upper_first(name)} of the {place} was {verb} in {year} by the {role} {maker}.",
                f"The {role} {maker} {verb} {name} in {year}, in the {place}.",
                f"In {year} {maker}, a {role}, {verb} {name}.",
            ])]
            shuffled = assigned[:]
            rng.shuffle(shuffled)
            while shuffled:
                take = 2 if len(shuffled) >= 2 and rng.random() < 0.5 else 1
                sentences.append(sentence_for(rng, shuffled[:take]))
                shuffled = shuffled[take:]
            sentences.append(rng.choice([f"It counts {count} {count_noun}.", f"Records give {count} {count_noun}.",
                                         f"There are {count} {count_noun}."]))
            sentences.append(rng.choice([f"It is often mentioned beside {word(rng)} of the same {place_noun}.",
                                         f"Guides in the {place} tell its story every summer.",
                                         f"Letters about it are kept in {word(rng, 3)}."]))
            body = [sentences[0]] + rng.sample(sentences[1:], len(sentences) - 1)
            if rng.random() < 0.5:  # the origin sentence not always first
                body.insert(rng.randrange(len(body)), body.pop(0))
            rid = len(references)
            references.append({"id": rid, "text": " ".join(body)})
            facts.append((rid, name, maker, year, count, assigned))
        decoy = (f"A guide to the {place}: every {kind} here, from the {decade}s on. "
                 f"You will see {', '.join(pool)} in many places, on {', '.join(chosen)} alike. The {role}s of the "
                 f"{place} are remembered in the town hall.")
        references.append({"id": len(references), "text": decoy})
        for rid, name, maker, year, count, assigned in facts:
            named = rng.sample(assigned, 2)  # two multihop questions, each by another (part, value) pair
            questions += [
                {"ref": rid, "prompt": f"{upper_first(name)} of the {place} was {verb} in the year", "answer": f" {year}",
                 "kind": "direct"},
                {"ref": rid, "prompt": rng.choice([f"The {role} who {q_verb} {name} was", f"{upper_first(name)} was the work of"]),
                 "answer": f" {maker}", "kind": "paraphrase"},
            ]
            for part, value in named:
                questions.append(rng.choice([
                    {"prompt": f"The {kind} of the {place} with the {value} {part} was {verb} by the {role}", "answer": f" {maker}"},
                    {"prompt": f"In the {place}, the {kind} whose {part} {be(part)} {value} dates from the year", "answer": f" {year}"},
                    {"prompt": f"The {kind} of the {place} that has {value} {part} counts", "answer": f" {count} {count_noun}"},
                ]) | {"ref": rid, "kind": "multihop"})
    return {"about": f"Binding training set (scripts/make-binding-set.py, seed {seed}): sibling things whose parts share "
                     f"colours and materials in different places; for training a retriever, never for measuring.",
            "references": references, "questions": questions}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    data = make(args.groups, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1)
    print(f"{args.out}: {len(data['references'])} references, {len(data['questions'])} questions")


if __name__ == "__main__":
    main()
