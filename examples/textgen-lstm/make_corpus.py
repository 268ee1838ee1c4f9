"""Generate a synthetic corpus of short movie reviews from a fixed grammar.

No data set can be downloaded here, so the training text is produced by hand-written
templates. Each review is one line: a short verdict headline ("Movie is great.") followed by
body sentences in a fixed order of sections (plot, cast, aspects, feeling, verdict,
rating; each optional) whose sentiment agrees with the headline (a "mixed" review also
uses contrast sentences), so that a model prompted with a headline learns a coherent,
non-repeating continuation. Output is fully
determined by --seed (Python's random.Random is stable across 3.x versions).

    /usr/bin/python3 make_corpus.py [--reviews N] [--seed S] [--output corpus.txt]
"""
import argparse
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))

FILMS = ["movie", "film", "picture", "sequel", "remake", "thriller", "comedy", "drama", "story",
         "show", "documentary", "western", "musical", "romance", "adaptation", "prequel", "debut",
         "cartoon"]
ASPECTS = ["plot", "story", "script", "acting", "cast", "dialogue", "soundtrack", "score", "music",
           "cinematography", "camera work", "editing", "pacing", "ending", "opening", "twist",
           "villain", "hero", "lead", "supporting cast", "effects work", "costume design",
           "set design", "lighting", "humor", "romance", "action", "finale", "direction",
           "screenplay", "premise", "first half", "second half", "final scene", "climax",
           "production design", "sound design", "chemistry between the leads", "world building",
           "tone", "atmosphere", "message", "main character", "love story", "car chase",
           "opening scene", "last act", "voice acting", "animation", "makeup", "photography"]
POS = ["great", "wonderful", "brilliant", "amazing", "fantastic", "superb", "excellent",
       "charming", "moving", "beautiful", "stunning", "gripping", "clever", "funny", "hilarious",
       "witty", "heartfelt", "touching", "powerful", "memorable", "delightful", "engaging",
       "thrilling", "inventive", "original", "fresh", "smart", "sharp", "gorgeous", "haunting",
       "tender", "warm", "uplifting", "solid", "strong", "impressive", "masterful", "breathtaking",
       "captivating", "compelling", "enjoyable", "entertaining", "fun", "lovely", "magical",
       "marvelous", "outstanding", "perfect", "polished", "refreshing", "remarkable", "riveting",
       "satisfying", "sincere", "spectacular", "stylish", "sublime", "suspenseful", "terrific",
       "thoughtful", "unforgettable", "vivid", "wise", "rich", "bold", "elegant", "exciting",
       "inspiring", "joyful", "graceful", "nuanced", "poignant", "good", "nice", "lively",
       "well-made", "heart-warming", "feel-good", "mind-blowing", "laugh-out-loud"]
NEG = ["terrible", "awful", "boring", "dull", "bland", "predictable", "clumsy", "messy", "slow",
       "tedious", "weak", "lazy", "flat", "forgettable", "lifeless", "shallow", "silly", "stupid",
       "pointless", "confusing", "cheap", "ugly", "annoying", "painful", "bloated", "overlong",
       "tiresome", "uninspired", "unfunny", "wooden", "stiff", "derivative", "disappointing",
       "dreadful", "horrible", "incoherent", "mediocre", "noisy", "pretentious", "sloppy", "stale",
       "tired", "unconvincing", "clunky", "awkward", "empty", "generic", "hollow", "joyless",
       "limp", "listless", "muddled", "plodding", "repetitive", "ridiculous", "soulless", "thin",
       "underwhelming", "unbearable", "dreary", "drab", "grating", "hackneyed", "insipid",
       "juvenile", "overwrought", "sluggish", "trite", "bad", "poor", "half-baked", "paper-thin",
       "by-the-numbers", "one-note", "over-the-top"]
MIXED = ["okay", "decent", "fine", "average", "passable", "watchable", "uneven", "alright",
         "mixed", "flawed", "modest", "harmless", "forgettable", "so-so", "serviceable",
         "fair", "ordinary", "competent", "middling"]
ADVERBS = {"pos": ["really", "truly", "very", "quite", "surprisingly", "incredibly", "absolutely",
                   "genuinely", "deeply", "remarkably", "wonderfully", "so", "simply",
                   "consistently"],
           "neg": ["really", "very", "painfully", "utterly", "incredibly", "completely", "so",
                   "hopelessly", "terribly", "embarrassingly", "simply", "frankly"],
           "mixed": ["fairly", "rather", "somewhat", "pretty", "mostly", "reasonably",
                     "occasionally"]}
FIRST = ["Arthur", "Sara", "Felix", "Hannah", "Ivan", "Lena", "Marco", "Tess", "Jonas", "Ada",
         "Noah", "Maya", "Ethan", "Zoe", "Martin", "Irene", "Dennis", "Clara", "Ray", "Olga",
         "Kevin", "Amy", "Bruce", "Linda", "Edward", "Sofia", "Tom", "Emma", "James", "Olivia",
         "Michael", "Sophia", "David", "Grace", "Daniel", "Chloe", "Robert", "Anna", "William",
         "Julia", "Henry", "Laura", "Jack", "Ruth", "Samuel", "Helen", "Peter", "Maria", "George",
         "Rose", "Paul", "Claire", "Frank", "Nora", "Oscar", "Lucy", "Victor", "Diana", "Hugo",
         "Vera", "Leo", "Iris", "Adam", "Eva", "Max", "Mia", "Ben", "Kate", "Owen", "Nina", "Luke",
         "Alice", "Simon", "Jane", "Carl", "Ella"]
LAST = ["Fox", "Doyle", "Frost", "Hart", "Mills", "Nash", "Pike", "Rowe", "Vance", "York", "Lowe",
        "Chen", "Singh", "Weber", "Klein", "Moreau", "Petrov", "Okafor", "Lindqvist", "Tanaka",
        "Alvarez", "Murphy", "Gallo", "Baker", "Harper", "Stone", "Bennett", "Walsh", "Carter",
        "Hayes", "Morgan", "Reed", "Fisher", "Brooks", "Porter", "Quinn", "Sullivan", "Grant",
        "Foster", "Lane", "Hale", "Moore", "Price", "Ward", "Keller", "Norton", "Shaw", "Blake",
        "Palmer", "Dunn", "Marsh", "Wells", "Russo", "Park", "Kim", "Silva", "Novak", "Berg",
        "Costa", "Ito", "Khan", "Meyer", "Rossi", "Santos"]
ROLES = ["bartender", "firefighter", "prisoner", "miner", "waitress", "architect", "librarian",
         "poet", "magician", "preacher", "drummer", "fisherman", "judge", "senator", "assassin",
         "smuggler", "taxi driver", "photographer", "gardener", "detective", "teacher", "soldier",
         "mother", "father", "doctor", "journalist", "pilot", "thief", "lawyer", "farmer",
         "scientist", "singer", "boxer", "chef", "widow", "priest", "spy", "king", "queen",
         "nurse", "student", "cop", "sheriff", "painter", "writer", "hacker", "coach", "astronaut",
         "dancer", "gambler", "sailor", "banker", "nanny", "mechanic", "musician", "ghost",
         "robot", "vampire", "cowboy", "surgeon", "professor"]
CHARS = ["lazy", "angry", "wealthy", "poor", "sick", "blind", "jealous", "nervous", "quiet",
         "wild", "charming", "eccentric", "dying", "honest", "greedy", "loyal", "young", "old",
         "lonely", "retired", "ambitious", "grieving", "reckless", "shy", "stubborn", "brave",
         "troubled", "cynical", "kind", "clever", "washed-up", "ruthless", "naive", "gentle",
         "bitter", "restless", "struggling", "famous", "forgotten", "divorced"]
PLOTS = ["falls in love with a {role}", "tries to save {poss} family",
         "returns to {poss} hometown", "must stop {a_char} {role}", "searches for a lost {obj}",
         "hides a terrible secret", "plans one last heist", "fights to clear {poss} name",
         "discovers a hidden {obj}", "travels across {place}", "takes care of {a_char} {role}",
         "runs a small restaurant", "tries to win back {poss} wife",
         "tries to win back {poss} husband", "uncovers a conspiracy", "trains for one final fight",
         "inherits an old {obj}", "befriends {a_char} {role}", "escapes from prison",
         "raises a child alone", "chases a killer through {place}", "starts a band",
         "loses everything", "wakes up in {place} with no memory"]
OBJECTS = ["cat", "guitar", "gun", "necklace", "tape", "diary", "bicycle", "crown", "sword",
           "bottle", "phone", "coin", "mask", "recipe", "camera", "cello", "ring", "map",
           "treasure", "letter", "dog", "painting", "car", "diamond", "key", "book", "violin",
           "house", "photograph", "ship", "chest", "statue", "film reel", "manuscript", "notebook",
           "suitcase", "horse", "watch"]
PLACES = ["Sydney", "Moscow", "Cairo", "Lisbon", "Mumbai", "Seoul", "Montana", "Florida",
          "Brooklyn", "Naples", "Dublin", "Havana", "a lighthouse", "a motel", "a spaceship",
          "a war zone", "an orphanage", "a factory", "the arctic", "a haunted house", "Paris",
          "London", "New York", "Tokyo", "Rome", "Berlin", "Chicago", "Texas", "Alaska", "Mexico",
          "Ireland", "Scotland", "a small town", "the desert", "a prison", "space", "a farm",
          "the mountains", "a submarine", "a hospital", "a school", "a hotel", "the suburbs",
          "the jungle", "a big city", "a tiny village", "an island", "the north", "the south",
          "a castle", "a casino", "the ocean", "a train", "Hong Kong", "Venice"]
GENRES = ["slasher", "zombie", "buddy cop", "road", "coming of age", "gangster", "martial arts",
          "space", "holiday", "dance", "horror", "comedy", "action", "science fiction", "war",
          "crime", "family", "heist", "spy", "sports", "superhero", "disaster", "period",
          "courtroom", "monster", "teen", "romantic", "fantasy", "mystery", "animated"]
AUDIENCES = ["everyone", "families", "kids", "adults", "teenagers", "couples", "my friends",
             "fans of the genre", "fans of the book", "anyone who likes a good story",
             "my parents", "film students", "anyone with a pulse"]
POS_VP = ["works", "shines", "holds up", "sparkles", "lands", "soars", "hits hard",
          "stays with you", "pays off", "comes together", "never drags", "feels fresh",
          "earns every tear", "keeps you guessing", "steals the show"]
NEG_VP = ["drags", "falls flat", "falls apart", "goes nowhere", "misses the mark", "never lands",
          "feels rushed", "wears thin", "makes no sense", "feels cheap", "overstays its welcome",
          "goes on forever", "never comes together", "kills the mood", "ruins everything"]
POS_FEEL = ["laugh", "cry", "smile", "think", "cheer", "laugh out loud", "want to see it again",
            "forget the time", "hold my breath", "call my mother"]
NEG_FEEL = ["yawn", "cringe", "sleep", "check my watch", "want to leave", "angry",
            "want my money back", "miss the trailer", "wish I had stayed home"]
POS_LOVE = ["loved", "enjoyed", "adored", "admired", "liked", "appreciated", "was moved by"]
NEG_LOVE = ["hated", "disliked", "could not stand", "was bored by", "did not care about",
            "was annoyed by", "could not follow"]
WHEN = ["last night", "on a plane", "at a festival", "on a rainy Sunday", "at the cinema",
        "on television", "twice", "at midnight", "on my laptop", "last weekend",
        "on a Friday night", "at a drive-in", "during a storm", "on holiday", "yesterday"]
WITH = ["wife", "husband", "kids", "friends", "mother", "father", "grandmother", "roommate",
        "girlfriend", "boyfriend", "coworkers", "class", "brother", "sister", "neighbors", "uncle"]
TIMES = ["year", "decade", "summer", "season", "month"]


def adj(rng, mood):
    return rng.choice({"pos": POS, "neg": NEG, "mixed": MIXED}[mood])


def a_an(word):
    return ("an " if word[0] in "aeiou" else "a ") + word


def name(rng):
    return rng.choice(FIRST) + " " + rng.choice(LAST)


def fill(rng, text):
    """Expand nested {role}/{char}/{obj}/{place}/{poss} slots of a plot phrase."""
    return text.format(role=rng.choice(ROLES), a_char=a_an(rng.choice(CHARS)),
                       obj=rng.choice(OBJECTS), place=rng.choice(PLACES),
                       poss=rng.choice(["his", "her"]))


def cap(s):
    return s[0].upper() + s[1:]


def headline(rng, mood):
    # The first form is the shape of the serving prompt "Movie is great.", so it is the
    # most frequent one.
    f = rng.choice(FILMS)
    a = adj(rng, mood)
    end = rng.choice([".", ".", "!"])
    adv = rng.choice(ADVERBS[mood])
    forms = [f"{cap(f)} is {a}{end}",
             f"{cap(f)} is {a}{end}",
             f"{cap(f)} was {a}{end}",
             f"{cap(a)} {f}{end}",
             f"What {a_an(a)} {f}!",
             f"The {f} is {adv} {a}{end}",
             f"{cap(adv)} {a}{end}"]
    return rng.choice(forms)


def pick(rng, forms, used, tag):
    """Choose a sentence form not used yet in this review (real reviews rarely repeat a
    sentence pattern)."""
    free = [i for i in range(len(forms)) if (tag, i) not in used] or range(len(forms))
    i = rng.choice(free)
    used.add((tag, i))
    return forms[i]


def body(rng, mood, section, used):
    """One body sentence of the given section. Mixed reviews draw each sentence as
    pos, neg or mixed, and half of their aspect sentences are contrasts."""
    if mood == "mixed":
        if section == "aspect" and rng.random() < 0.5:
            return contrast(rng, used)
        mood = rng.choice(["pos", "neg", "mixed"])
    good = mood != "neg"
    other = "neg" if good else "pos"
    asp, asp2 = rng.sample(ASPECTS, 2)
    a, a2 = adj(rng, mood), adj(rng, mood)
    adv = rng.choice(ADVERBS[mood])
    genre = rng.choice(GENRES)
    who = f"{a_an(rng.choice(CHARS))} {rng.choice(ROLES)} who {fill(rng, rng.choice(PLOTS))}"
    score = {"pos": (7, 10), "neg": (1, 4), "mixed": (5, 6)}[mood]
    if good:
        fan = f"If you like {genre} films, you will {rng.choice(['love', 'enjoy'])} this one."
        director = f"The director handles the {asp} with {rng.choice(['care', 'skill', 'style'])}."
        saw = f"we {rng.choice(POS_LOVE[:3])} it"
        pace, fans = "flies by", "love"
    else:
        fan = f"Even fans of {genre} films will be {rng.choice(['bored', 'disappointed'])}."
        director = f"The director {rng.choice(['botched', 'rushed', 'mishandled'])} the {asp}."
        saw = f"nobody {rng.choice(['liked it', 'enjoyed it', 'stayed awake'])}"
        pace, fans = "feels far too long", "be let down by"
    forms = {
        "plot": [f"{name(rng)} plays {who}.",
                 f"It follows {who}.",
                 f"The story is set in {rng.choice(PLACES)} in {rng.randint(1920, 2023)}."],
        "cast": [f"{name(rng)} is {a} as the {rng.choice(ROLES)}.",
                 f"Fans of {name(rng)} will {fans} this {rng.choice(FILMS)}."],
        "aspect": [f"The {asp} is {adv} {a}.",
                   f"The {asp} and the {asp2} are {a}.",
                   f"The {asp} is {a}, and the {asp2} is {a2}.",
                   f"{cap(adv)}, the {asp} {rng.choice(POS_VP if good else NEG_VP)}.",
                   f"The {asp} (especially the {asp2}) is {a}.",
                   f"It's {a}; the {asp} is {a2}.",
                   f"The {asp} isn't {adj(rng, other)} at all.",
                   director,
                   f"It's {a_an(a)} {genre} film with {a_an(a2)} {asp}.",
                   f"At {rng.randrange(80, 185, 5)} minutes, it {pace}."],
        "feeling": [f"I {rng.choice(POS_LOVE if good else NEG_LOVE)} the {asp}.",
                    f"It made me {rng.choice(POS_FEEL if good else NEG_FEEL)}.",
                    f"I saw it {rng.choice(WHEN)} with my {rng.choice(WITH)}, and {saw}.",
                    "What more could you want?" if good else f"Why did nobody fix the {asp}?"],
        "verdict": [f"I would {'' if good else 'not '}recommend it to {rng.choice(AUDIENCES)}.",
                    f"It is one of the {'best' if good else 'worst'} {genre} films of the "
                    f"{rng.choice(TIMES)}.",
                    fan,
                    "Don't miss it!" if good else "Don't waste your time.",
                    f"My verdict: {a}."],
        "rating": [f"I give it {rng.randint(*score)} out of 10."],
    }[section]
    return pick(rng, forms, used, section)


def contrast(rng, used):
    asp, asp2 = rng.sample(ASPECTS, 2)
    p, n = adj(rng, "pos"), adj(rng, "neg")
    forms = [f"The {asp} is {p}, but the {asp2} is {n}.",
             f"The {asp} is {n}, but the {asp2} is {p}.",
             f"Although the {asp} is {n}, the {asp2} is {p}.",
             f"The {asp} {rng.choice(POS_VP)}; however, the {asp2} {rng.choice(NEG_VP)}.",
             f"I {rng.choice(POS_LOVE)} the {asp}, but I {rng.choice(NEG_LOVE)} the {asp2}."]
    return pick(rng, forms, used, "contrast")


# A review walks through these sections in order, each present with the given
# probability. The fixed order is what keeps greedy decoding from looping: the model can
# tell which section it is in, and sections are never revisited.
PLAN = [("plot", 0.85), ("cast", 0.7), ("aspect", 1.0), ("aspect", 0.7), ("feeling", 0.6),
        ("verdict", 0.8), ("rating", 0.6)]


def review(rng):
    mood = rng.choice(["pos", "pos", "neg", "neg", "mixed"])
    used = set()
    sentences = [headline(rng, mood)]
    for section, p in PLAN:
        if rng.random() < p:
            sentences.append(body(rng, mood, section, used))
    return " ".join(sentences)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reviews", type=int, default=3600)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--output", default=os.path.join(HERE, "corpus.txt"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        for _ in range(args.reviews):
            f.write(review(rng) + "\n")
    print(f"wrote {args.reviews} reviews to {args.output} ({os.path.getsize(args.output)} bytes)")


if __name__ == "__main__":
    main()
