using System.CommandLine;
using PerfLab.Reports.Goals;
using PerfLab.Reports.Journal;
using PerfLab.Reports.Model;

namespace PerfLab.Reports.Cli.Commands;

/// <summary><c>goals</c>: checks an issue's goals on a journal's rounds (per-round ratios to a
/// reference measured in the same round, or absolute values) and prints the goals table.
/// Exit 1 when a goal is not met.</summary>
public static class GoalsCommand
{
    public static Command Create()
    {
        var journal = new Argument<string>("JOURNAL") { Description = "a journal written by record" };
        var goals = new Option<string[]>("--goal")
        {
            Description = "LABEL|CONFIG|REFERENCE|METRIC|>= or <=|LIMIT[|GATE], repeatable: the median over the rounds of CONFIG's METRIC divided by REFERENCE's in the same round (REFERENCE empty: the value itself) against LIMIT; with REFERENCE empty, GATE counts only the rounds where GATE's METRIC met LIMIT too (the host carried the load)",
            AllowMultipleArgumentsPerToken = true,
            Required = true,
        };
        var cmd = new Command("goals", "Check goals on a journal's rounds: per goal the median per-round ratio, its range, the limit, rounds that met it, pass or fail; and each round's c2c.") { journal, goals };
        cmd.SetAction(p => Program.Guard("goals", () =>
        {
            string path = p.GetValue(journal)!;
            var entries = RoundJournal.Read(path);
            if (entries.Count == 0)
            {
                throw new BadInputException($"{path} holds no figures");
            }
            Report report = RoundJournal.ToReport(entries, new Dictionary<string, string>());
            var ids = report.Configs.Select(c => c.Id).ToHashSet();
            var parsed = (p.GetValue(goals) ?? []).Select(Goal.Parse).ToList();
            foreach (Goal g in parsed)
            {
                if (!ids.Contains(g.Config) || (g.Reference.Length > 0 && !ids.Contains(g.Reference)) || (g.Gate.Length > 0 && !ids.Contains(g.Gate)))
                {
                    throw new BadInputException($"goal '{g.Label}': {g.Config}, {g.Reference} or {g.Gate} is not in {path}");
                }
            }
            var used = Summaries.UsedRounds(report);
            var results = parsed.Select(g => g.Evaluate(report, used)).ToList();
            Console.Write(GoalsMarkdown.Build(report, results));
            return results.All(r => r.Verdict == GoalVerdict.Pass) ? Program.Ok : Program.Failed;
        }));
        return cmd;
    }
}
