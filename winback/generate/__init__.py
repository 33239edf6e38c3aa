"""Generate realistic, seeded demo data for winback: the landing files and their ground truth.

The simulation is vectorised: every user gets parameters (archetype, rhythm, plan, schedule),
then a users x days matrix of daily activity is drawn chunk by chunk, events are expanded from
the active days with numpy, and DuckDB formats the strings and writes the files. Nothing depends
on the wall clock: the same seed and parameters give byte-identical files.

What is simulated (the three ways users disengage, plus involuntary churn):

- steady users keep a constant rhythm ("daily" or "weekly" users, half as active on weekends);
- progressive decliners use the product normally, then their daily probability (and the number
  of events per day) decays exponentially until they stop (daily -> weekly -> monthly -> gone);
- abrupt abandoners use it a lot, then stop on one day without any prior decline;
- never-activated users do 1 to 3 things on their first day or two, then nothing;
- involuntary churners are paying users whose payment fails; they stop 0 to 5 days later.

Landing files (relative to the landing folder): `events/events_YYYY-MM.<ext>` (one per UTC month),
`users/users.csv`, `messages/messages.jsonl` (a bi-weekly newsletter), `survey_responses/
survey_responses.csv` and `billing/billing.parquet`. A small share of event rows is deliberately
dirty (six kinds, listed in `truth_dir/dirty_rows.csv` with the rule each must trip); the truth
folder also holds `users.csv` with every user's archetype, true churn date and the day the
archetype's pattern started (`pattern_onset_date`: the decay's first day, the first day without
activity, the failed renewal; may fall after the period). The pipeline never reads the truth
folder (`winback evaluate` and the tests do).

The package, in the order the data is made:

- `vocabulary`: what is drawn and in which shares (the checked names come from the contract);
- `helpers`: seeded random streams, SQL literals, time arithmetic;
- `users`: every user's archetype, plan, profile, rhythm and schedule;
- `events`: daily activity and the product events;
- `dirty`: which event rows are made dirty;
- `writers`: the landing files (DuckDB COPY), the events and users files;
- `messages`, `survey`, `billing`: the other landing files;
- `truth`: the ground truth (`users.csv`, `dirty_rows.csv`);
- `generator`: `generate()`, which runs the steps above;
- `command`, `__main__`: the command line (`python -m winback.generate`, `winback generate`);
- `evaluation`: how well the disengagement marts recover the ground truth (`winback evaluate`).
"""

from winback.generate.generator import GenerationSummary, generate

__all__ = ["GenerationSummary", "generate"]
