"""The workflows that cross apps, in one place above them.

An upload is accepted (candidates stores it, assessments queues its grading and stops the older
uploads', rubrics withdraws their open reviews); a grading finishes (candidates marks the
invitation graded, rubrics assigns reviewers); an exercise is synced (rubrics syncs its rubric,
assessments its version); the candidate's status page reads across them. No app imports this
package: each app's services stay within the app and the apps below it (see README,
"Architecture"), and the database stays the source of truth: nothing here hides in a signal.
"""
