"""Sealed set of caption phrasings, written by an author who never saw the project's
caption grammar, templates or any other evaluation phrasings.
Used only to measure how caption parsing and text towers transfer to unseen wording.
Never tune on it: do not edit it to make a score rise.
"""


def _cap(s):
    return s[:1].upper() + s[1:]


BLIND_SEQUENTIAL = {
    "before_b_comma_a": lambda a, b: "Before %s, %s." % (b, a),
    "b_preceded_by_a": lambda a, b: "%s, preceded by %s." % (_cap(b), a),
    "b_after_a": lambda a, b: "%s after %s." % (_cap(b), a),
    "b_prior_to_that_a": lambda a, b: "%s; prior to that, %s." % (_cap(b), a),
    "b_earlier_a": lambda a, b: "%s. Earlier, %s." % (_cap(b), a),
    "b_but_first_a": lambda a, b: "%s, but first %s." % (_cap(b), a),
    "b_once_a": lambda a, b: "%s once %s." % (_cap(b), a),
    "b_and_before_that_a": lambda a, b: "%s, and before that %s." % (_cap(b), a),
    "b_end_a_start": lambda a, b: "%s toward the end, %s at the start." % (_cap(b), a),
    "ending_starting": lambda a, b: "Ending with %s, starting with %s." % (b, a),
    "a_comma_then_b": lambda a, b: "%s, then %s." % (_cap(a), b),
    "a_afterwards_b": lambda a, b: "%s, and afterwards %s." % (_cap(a), b),
    "a_followed_by_b": lambda a, b: "%s followed by %s." % (_cap(a), b),
    "first_a_next_b": lambda a, b: "First %s, next %s." % (a, b),
    "a_later_b": lambda a, b: "%s. Later, %s." % (_cap(a), b),
    "a_before_b": lambda a, b: "%s before %s." % (_cap(a), b),
    "a_eventually_b": lambda a, b: "%s, and eventually %s." % (_cap(a), b),
    "a_until_b": lambda a, b: "%s until %s." % (_cap(a), b),
    "a_moment_later_b": lambda a, b: "%s and, a moment later, %s." % (_cap(a), b),
    "prompt_and_then": lambda a, b: "%s and then %s" % (a, b),
}

BLIND_SIMULTANEOUS = {
    "a_while_b": lambda a, b: "%s while %s." % (_cap(a), b),
    "same_time": lambda a, b: "%s and %s at the same time." % (_cap(a), b),
    "simultaneously": lambda a, b: "Simultaneously, %s and %s." % (a, b),
    "meanwhile": lambda a, b: "%s; meanwhile, %s." % (_cap(a), b),
    "b_as_a": lambda a, b: "%s as %s." % (_cap(b), a),
}
