package cli

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/proofow/powbroker/broker/buildinfo"
)

// AddVersion gives root a --version flag (one line: version, VCS revision, Go version,
// platform) and a version command (that line and every module version, or --json).
func AddVersion(root *cobra.Command) {
	info := buildinfo.Read()
	root.Version = info.Short(root.Name())
	root.SetVersionTemplate("{{.Version}}\n")
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version, VCS revision, Go version and the dependencies' versions",
		Args:  NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(info)
			}
			_, err := fmt.Fprint(cmd.OutOrStdout(), info.Long(root.Name()))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	root.AddCommand(cmd)
}
