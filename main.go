// Command terraform-provider-infrabackup serves the infrabackup Terraform provider.
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/infrabackup/terraform-provider-infrabackup/internal/provider"
)

// version is set at release time by goreleaser (-ldflags "-X main.version=...").
var version = "dev"

//go:generate go tool tfplugindocs generate -provider-name infrabackup

func main() {
	var debug bool
	flag.BoolVar(&debug, "debug", false, "run with support for debuggers such as delve")
	flag.Parse()

	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/infrabackup/infrabackup",
		Debug:   debug,
	})
	if err != nil {
		log.Fatal(err.Error())
	}
}
