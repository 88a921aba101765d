// The moproxy mode's --policy: the rules file loaded for the loops (an rcu::Cell the Route reads), and the
// `policy get` subcommand's output, as moproxy 0.5.1 prints it:
//   Policy: REQUIRE! a AND (b OR c)
//   Allowed: tag1, tag2          (a require only: the servers that satisfy it, tags sorted, ", "-joined)
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/policy.h"
#include "backends/server_list.h"
#include "modes/moproxy/moproxy_options.h"

namespace ferry::moproxy {

// The policy of --policy (none without it: every server qualifies). On failure the error is
// "FILE:LINE: message" (or "FILE: strerror") in *error (cleared on success), and the result is null.
std::shared_ptr<const policy::Policy> load_policy(const Options& options, std::string* error);

// `policy get`'s two lines (one for direct and reject) for the connection its options describe. `rules` may be
// null: moproxy's empty policy, which requires nothing.
std::string policy_get_text(const policy::Policy* rules, const Options& options,
                            const std::vector<backends::ServerConfig>& servers);

}  // namespace ferry::moproxy
