//! The share dialog of one item over HTTP (`/datasets/{ns}/{name}/share?path=`): who can reach
//! it (the owner, collaborators, the shares and invitations of it or of a folder above it, never
//! a sibling's), sharing with a person, a team or an address, revoking, links made and copied
//! again; each change with its notice. Hostile: a writer who is not an admin, a stranger, a
//! missing CSRF token, another dataset's share id, a bad date (what was typed kept), an unknown
//! change, an unknown user.

use crate::common::*;
use crate::pages::cards::{api, commit};
use serde_json::json;

#[tokio::test]
async fn the_share_dialog_of_one_item() {
    let server = server_with_alice().await;
    server.user("bob").await;
    strata::cli::admin::set_password(&server.state, "bob", PASSWORD)
        .await
        .unwrap();
    server.user("carol").await;
    let token = strata::cli::admin::create_token(&server.state, "alice", "t", "*", None)
        .await
        .unwrap();
    for name in ["box", "other"] {
        let (status, v) = api(
            &server,
            &token,
            reqwest::Method::POST,
            "/datasets",
            json!({"namespace": "alice", "name": name}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    commit(
        &server,
        &token,
        "alice/box",
        &[("sub/d.txt", "d"), ("sub/e.txt", "e"), ("b.txt", "b")],
    )
    .await;
    // Carol reads all of `sub`, and reads b.txt alone; bob writes the whole dataset (a share).
    for (path, user, access) in [
        ("sub", "carol", "read"),
        ("b.txt", "carol", "read"),
        ("", "bob", "write"),
    ] {
        let (status, v) = api(
            &server,
            &token,
            reqwest::Method::POST,
            "/datasets/alice/box/shares",
            json!({"path": path, "user": user, "access": access}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
    }
    let (status, v) = api(
        &server,
        &token,
        reqwest::Method::POST,
        "/datasets/alice/other/shares",
        json!({"path": "", "user": "carol", "access": "read"}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let elsewhere = v["id"].as_i64().unwrap().to_string();

    let mut alice = Browser::new(&server.url);
    alice.login("alice", PASSWORD).await;
    // The file's page and the folder's page lead to their dialogs.
    let file = alice.get("/datasets/alice/box/files/sub/d.txt").await;
    assert!(
        file.text
            .contains("href=\"/datasets/alice/box/share?path=sub/d.txt\""),
        "{}",
        file.text
    );
    let folder = alice.get("/datasets/alice/box?path=sub").await;
    assert!(
        folder
            .text
            .contains("href=\"/datasets/alice/box/share?path=sub\">Share this folder"),
        "{}",
        folder.text
    );
    let url = "/datasets/alice/box/share?path=sub/d.txt";
    let page = alice.get(url).await;
    assert_eq!(page.status, 200, "{}", page.text);
    let csrf = page.hidden("csrf");
    let table = page.text.split("id=\"who-has-access\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    // What reaches sub/d.txt: alice owns it, carol through `sub`, bob through all of it; carol's
    // share of b.txt does not.
    assert!(table.contains("<td>alice</td><td>owner</td>"), "{table}");
    assert!(table.contains("a share of <a href=\"/datasets/alice/box/share?path=sub\">sub</a>"));
    assert!(table.contains("a share of the whole dataset"), "{table}");
    assert_eq!(
        table.matches("name=\"change\" value=\"unshare\"").count(),
        2
    );
    assert!(!table.contains("b.txt"), "{table}");

    let post = |form: Vec<(&'static str, String)>| {
        let mut full = vec![("csrf", csrf.clone())];
        full.extend(form);
        full
    };
    let to = "/datasets/alice/box/share";
    // Share with a person: back to the dialog, with a notice; listed as this item's own.
    let form = post(vec![
        ("change", "share".into()),
        ("path", "sub/d.txt".into()),
        ("who", "bob".into()),
        ("access", "read".into()),
        ("expires", "2099-12-31".into()),
    ]);
    let r = alice.post(to, &pairs(&form)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let next = r.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(
        next,
        "/datasets/alice/box/share?path=sub%2Fd.txt&done=shared"
    );
    let page = alice.get(&next).await;
    assert!(page
        .text
        .contains("Shared: they find it under Shared with me."));
    assert!(page.text.contains("<td>this item</td>"), "{}", page.text);
    assert!(page.text.contains("2099-12-31"), "{}", page.text);
    let (_, shares) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/box/shares",
        serde_json::Value::Null,
    )
    .await;
    let mine = shares
        .as_array()
        .or_else(|| shares["shares"].as_array())
        .unwrap()
        .iter()
        .find(|s| s["path"] == "sub/d.txt")
        .unwrap_or_else(|| panic!("{shares}"))
        .clone();
    let id = mine["id"].as_i64().unwrap().to_string();

    // An address without an account: an invitation, pending in the dialog.
    let form = post(vec![
        ("change", "share".into()),
        ("path", "sub/d.txt".into()),
        ("who", "dana@example.org".into()),
        ("access", "write".into()),
    ]);
    let r = alice.post(to, &pairs(&form)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = alice.get(r.headers["location"].to_str().unwrap()).await;
    assert!(page.text.contains("Invitation kept"), "{}", page.text);
    assert!(page
        .text
        .contains("dana@example.org <span class=\"tag\">pending</span>"));

    // A link to the file: shown again on every visit, and only in this item's dialog.
    let form = post(vec![
        ("change", "link".into()),
        ("path", "sub/d.txt".into()),
        ("password", String::new()),
        ("expires", String::new()),
    ]);
    let r = alice.post(to, &pairs(&form)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = alice.get(url).await;
    let link = page
        .text
        .split("class=\"link-url\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(link.contains("/s/"), "{link}");
    assert!(
        alice.get(url).await.text.contains(&link),
        "copied again later"
    );
    let sibling = alice.get("/datasets/alice/box/share?path=sub/e.txt").await;
    assert!(!sibling.text.contains(&link), "{}", sibling.text);
    // The folder's dialog shows what is shared and linked inside it, so nothing hides there.
    let folder = alice.get("/datasets/alice/box/share?path=sub").await;
    assert!(folder.text.contains(&link), "{}", folder.text);
    assert!(
        folder.text.contains("sub/d.txt</a>, inside it"),
        "{}",
        folder.text
    );
    // And a link to the folder shows on its file's dialog, from above.
    let form = post(vec![("change", "link".into()), ("path", "sub".into())]);
    assert_eq!(alice.post(to, &pairs(&form)).await.status, 303);
    let file = alice.get("/datasets/alice/box/share?path=sub/e.txt").await;
    assert!(
        file.text
            .contains("<a href=\"/datasets/alice/box/share?path=sub\">sub</a></td>"),
        "{}",
        file.text
    );
    assert!(
        file.text.contains("and whoever has one of its links"),
        "{}",
        file.text
    );
    let opened = client().get(&link).send().await.unwrap();
    assert_eq!(opened.status(), 200);

    // Hostile: each refused with its reason, the typed values kept, nothing changed.
    for (form, status, says) in [
        (
            vec![
                ("change", "share".into()),
                ("path", "sub/d.txt".into()),
                ("who", "bobb".into()),
                ("access", "read".into()),
            ],
            404,
            "bobb",
        ),
        (
            vec![
                ("change", "share".into()),
                ("path", "sub/d.txt".into()),
                ("who", "carol".into()),
                ("access", "read".into()),
                ("expires", "someday".into()),
            ],
            422,
            "is not a date",
        ),
        (
            vec![
                ("change", "share".into()),
                ("path", "sub/d.txt".into()),
                ("who", "carol".into()),
                ("access", "own".into()),
            ],
            422,
            "",
        ),
        (
            vec![("change", "unshare".into()), ("id", elsewhere.clone())],
            404,
            "",
        ),
        (vec![("change", "explode".into())], 422, "unknown change"),
    ] {
        let r = alice.post(to, &pairs(&post(form.clone()))).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.text);
        assert!(r.text.contains(says), "{form:?}: {}", r.text);
        assert!(r.text.contains("role=\"alert\""), "{form:?}: {}", r.text);
    }
    let kept = alice
        .post(
            to,
            &pairs(&post(vec![
                ("change", "share".into()),
                ("path", "sub/d.txt".into()),
                ("who", "carol".into()),
                ("access", "write".into()),
                ("expires", "someday".into()),
            ])),
        )
        .await;
    assert!(kept.text.contains("value=\"carol\""), "{}", kept.text);
    assert!(
        kept.text.contains("value=\"write\" selected"),
        "{}",
        kept.text
    );
    // carol's share of the other dataset is still there.
    let (_, still) = api(
        &server,
        &token,
        reqwest::Method::GET,
        "/datasets/alice/other/shares",
        serde_json::Value::Null,
    )
    .await;
    assert!(still.to_string().contains("carol"), "{still}");
    // Without the CSRF token: refused.
    let r = alice
        .post(to, &[("change", "unshare"), ("id", id.as_str())])
        .await;
    assert_eq!(r.status, 403);
    // Bob writes the whole dataset but is no admin: no dialog, no change.
    let mut bob_page = Browser::new(&server.url);
    bob_page.login("bob", PASSWORD).await;
    let bob_csrf = bob_page.get("/datasets/alice/box").await.hidden("csrf");
    let r = bob_page.get(url).await;
    assert!(
        r.status == 403 || r.status == 404,
        "{}: {}",
        r.status,
        r.text
    );
    assert!(!r.text.contains(&link), "{}", r.text);
    let r = bob_page
        .post(
            to,
            &[
                ("csrf", bob_csrf.as_str()),
                ("change", "unshare"),
                ("id", id.as_str()),
            ],
        )
        .await;
    assert!(r.status == 403 || r.status == 404, "{}", r.status);
    // Signed out: to the login page, back to the dialog after.
    let r = Browser::new(&server.url).get(url).await;
    assert_eq!(r.status, 303);
    assert!(r.headers["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));

    // Revoke this item's share: gone from the dialog, the notice says so.
    let r = alice
        .post(
            to,
            &pairs(&post(vec![
                ("change", "unshare".into()),
                ("path", "sub/d.txt".into()),
                ("id", id.clone()),
            ])),
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let page = alice.get(r.headers["location"].to_str().unwrap()).await;
    assert!(page.text.contains("The share is revoked."));
    let access = page.text.split("id=\"who-has-access\"").nth(1).unwrap();
    let access = access.split("</table>").next().unwrap();
    assert!(!access.contains("<td>this item</td>"), "{access}");
}

fn pairs<'a>(form: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    form.iter().map(|(k, v)| (*k, v.as_str())).collect()
}
