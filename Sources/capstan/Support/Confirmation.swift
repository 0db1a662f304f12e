import ArgumentParser
import Foundation

/// The one confirmation habit of every command that restarts, removes or restores (`backup restore`,
/// `certs rotate`, `upgrade apply|rollback`, `node remove`, `reset`): `--yes` goes ahead; on a terminal
/// the command shows what it will do and asks; off a terminal without `--yes` it refuses. A refusal or
/// an answer other than y exits 2 (`ExitStatus.refused`) with nothing changed. `--dry-run` on each of
/// them shows the steps and changes nothing. Questions go to stderr, so `--output json` stays clean.
enum Confirmation {
    /// What `command` says off a terminal; `yesFlag` is the flag that goes ahead.
    static func refusalText(_ command: String, yesFlag: String = "--yes") -> String {
        "\(command): not a terminal, so nothing was asked and nothing was changed; add \(yesFlag) to go ahead, or --dry-run to see what would change"
    }

    /// Goes ahead with `yes`; otherwise asks `question` on a terminal (y or yes to go ahead).
    static func require(_ command: String, _ question: String, yes: Bool) throws {
        guard !yes else { return }
        guard isatty(STDIN_FILENO) == 1 else {
            printError(refusalText(command))
            throw ExitCode(ExitStatus.refused)
        }
        guard ["y", "yes"].contains(ask("\(question)? [y/N] ").lowercased()) else {
            printError("\(command): not confirmed; nothing was changed")
            throw ExitCode(ExitStatus.refused)
        }
    }

    /// For what cannot be undone (`reset --all`): the exact `word` typed on a terminal, or given with
    /// `yesFlag WORD` in scripts.
    static func requireTyped(_ command: String, _ prompt: String, word: String, given: String?, yesFlag: String) throws {
        if let given {
            guard given == word else {
                printError("\(command): \(yesFlag) \(given) does not name this cluster (\(word)); nothing was changed")
                throw ExitCode(ExitStatus.refused)
            }
            return
        }
        guard isatty(STDIN_FILENO) == 1 else {
            printError(refusalText(command, yesFlag: "\(yesFlag) \(word)"))
            throw ExitCode(ExitStatus.refused)
        }
        guard ask("\(prompt). Type \(word) to go ahead: ") == word else {
            printError("\(command): the name did not match; nothing was changed")
            throw ExitCode(ExitStatus.refused)
        }
    }

    private static func ask(_ prompt: String) -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        return (readLine() ?? "").trimmingCharacters(in: .whitespaces)
    }
}
