package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Shell completion asks the binary itself: urfave/cli answers --generate-bash-completion with the
// commands or flags that fit where the cursor is, so the scripts never go stale.

const bashCompletion = `# bash completion for mirrorctl; install as /usr/share/bash-completion/completions/mirrorctl
# or: source <(mirrorctl completion bash)
_mirrorctl_complete() {
    local cur words
    COMPREPLY=()
    cur="${COMP_WORDS[COMP_CWORD]}"
    if [[ "$cur" == -* ]]; then
        words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
    else
        words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
    fi
    local IFS=$'\n'
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _mirrorctl_complete mirrorctl
`

const zshCompletion = `#compdef mirrorctl
# zsh completion for mirrorctl; install as _mirrorctl in a directory of $fpath
# (e.g. /usr/local/share/zsh/site-functions), or: source <(mirrorctl completion zsh)
_mirrorctl() {
    local -a opts
    local cur=${words[CURRENT]}
    if [[ "$cur" == -* ]]; then
        opts=("${(@f)$(${words[@]:0:$CURRENT-1} "$cur" --generate-bash-completion 2>/dev/null)}")
    else
        opts=("${(@f)$(${words[@]:0:$CURRENT-1} --generate-bash-completion 2>/dev/null)}")
    fi
    opts=(${opts:#})
    if (( ${#opts} )); then
        _describe 'mirrorctl' opts
    else
        _files
    fi
}
if [[ "${funcstack[1]}" == "_mirrorctl" ]]; then
    _mirrorctl "$@"
else
    compdef _mirrorctl mirrorctl
fi
`

var completionScripts = map[string]string{"bash": bashCompletion, "zsh": zshCompletion}

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash or zsh",
		ArgsUsage: "bash|zsh",
		Description: examples(
			"source <(mirrorctl completion bash)", "complete mirrorctl in this bash",
			"mirrorctl completion zsh > /usr/local/share/zsh/site-functions/_mirrorctl", "install it for zsh",
		) + "\n\n   make install puts both scripts in place.",
		Action: func(c *cli.Context) error {
			shells := "bash or zsh"
			if c.NArg() != 1 {
				return usageError("completion needs the shell: mirrorctl completion %s", shells)
			}
			script, ok := completionScripts[strings.ToLower(c.Args().First())]
			if !ok {
				return usageError("no completion for shell %q: use %s", c.Args().First(), shells)
			}
			_, err := fmt.Fprint(c.App.Writer, script)
			return err
		},
	}
}

func manCommand() *cli.Command {
	return &cli.Command{
		Name:        "man",
		Usage:       "print the manual page (roff) generated from these commands and flags",
		Description: examples("mirrorctl man | man -l -", "read it", "mirrorctl man > /usr/local/share/man/man1/mirrorctl.1", "install it (make install does)"),
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usageError("man takes no arguments: mirrorctl man > mirrorctl.1")
			}
			page, err := c.App.ToManWithSection(1)
			if err != nil {
				return fmt.Errorf("generate the manual page: %w", err)
			}
			_, err = fmt.Fprint(c.App.Writer, page)
			return err
		},
	}
}
